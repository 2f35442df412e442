set -x
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz PYTHONPATH=/work/main
cd /work/main
time python evaluation/photo_cases.py > runs/s40/photo110.log 2>&1
time python evaluation/handwriting.py > runs/s40/handwriting110.log 2>&1
time python evaluation/drawn_digits.py > runs/s40/drawn110.log 2>&1
time python evaluation/gate.py > runs/s40/gate110.log 2>&1
time python evaluation/fuzz.py --n 2000 --seed 42 --workers 1 --out /tmp/fuzz42.json > runs/s40/fuzz42.log 2>&1
