set -x
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz
cd /work/main
time python evaluation/photo_cases.py > runs/s39/photo18.log 2>&1
time python evaluation/handwriting.py > runs/s39/handwriting18.log 2>&1
time python evaluation/drawn_digits.py > runs/s39/drawn18.log 2>&1
time python evaluation/gate.py > runs/s39/gate18.log 2>&1
time python evaluation/fuzz.py --n 2000 --seed 40 --workers 1 --out /tmp/fuzz40.json > runs/s39/fuzz40.log 2>&1
