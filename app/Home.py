"""The app, and its entry point: ``streamlit run app/Home.py`` (from the repo root, which holds .streamlit/).

The router: it declares the pages (Streamlit's ``st.navigation``; each page keeps the URL its file had),
sets the page config, lays out the sidebar every page shares (the model picker, how you write 1 and 7), then
runs the page picked.  A page lays out its own part and asks for the model picked here
(``common.require_model``): the choice is kept in session state, so it holds from page to page.
"""

import common
import streamlit as st

# The navigation, in order.  url_path: the URL each page had as a file in pages/; Material icons, which every
# browser shows (an emoji needs a font that a bare Linux browser lacks).
PAGES = [
    st.Page("pages/0_Draw.py", title="Home", icon=":material/edit:", default=True),
    st.Page("pages/1_Preprocessing.py", title="Preprocessing", icon=":material/biotech:", url_path="Preprocessing"),
    st.Page("pages/2_Explain.py", title="Explain", icon=":material/local_fire_department:", url_path="Explain"),
    st.Page("pages/3_Models.py", title="Models", icon=":material/bar_chart:", url_path="Models"),
    st.Page("pages/4_Robustness.py", title="Robustness", icon=":material/shield:", url_path="Robustness"),
    st.Page("pages/5_Leaderboard.py", title="Leaderboard", icon=":material/leaderboard:", url_path="Leaderboard"),
    st.Page("pages/6_Collect.py", title="Collect", icon=":material/inventory_2:", url_path="Collect"),
    st.Page("pages/7_Numbers.py", title="Numbers", icon=":material/pin:", url_path="Numbers"),
    st.Page("pages/8_Data.py", title="Data", icon=":material/dataset:", url_path="Data"),
]

page = st.navigation(PAGES)
common.setup(page)
common.sidebar()
page.run()
