set -x
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz PYTHONPATH=/work/main
cd /work/main
time python runs/s39/blank_paper.py --against runs/s40/before110.npz > runs/s40/blank_rule40.txt 2>&1
time python runs/s39/frame_checks.py --step drop_line_under > runs/s40/frame_checks40.txt 2>&1
time python evaluation/photo_cases.py > runs/s40/photo111.log 2>&1
time python evaluation/handwriting.py > runs/s40/handwriting111.log 2>&1
time python evaluation/drawn_digits.py > runs/s40/drawn111.log 2>&1
time python evaluation/gate.py > runs/s40/gate111.log 2>&1
time python evaluation/fuzz.py --n 2000 --seed 42 --workers 1 --out /tmp/fuzz42.json > runs/s40/fuzz42.log 2>&1
