set -x
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz PYTHONPATH=/work/main
cd /work/main
python runs/s39/blank_paper.py --against runs/s40/before110.npz 2>&1 | tail -1
python runs/s40/fat_squares.py 2>&1 | head -1
python runs/s39/frame_checks.py --step drop_frame 2>&1 | tail -1
python runs/s39/frame_checks.py --step drop_line_under 2>&1 | tail -1
python runs/s39/form_line.py --start 4000 --seed 40000 2>&1 | tail -2
python runs/s40/numbers_on_a_line.py --n 100 --seed 2 2>&1 | tail -2
python evaluation/numbers.py > runs/s40/numbers41_alone.log 2>&1
