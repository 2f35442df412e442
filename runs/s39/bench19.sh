set -x
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz PYTHONPATH=/work/main
cd /work/main
time python evaluation/photo_cases.py > runs/s39/photo19.log 2>&1
time python evaluation/handwriting.py > runs/s39/handwriting19.log 2>&1
time python evaluation/drawn_digits.py > runs/s39/drawn19.log 2>&1
time python evaluation/gate.py > runs/s39/gate19.log 2>&1
time python evaluation/fuzz.py --n 2000 --seed 41 --workers 1 --out /tmp/fuzz41.json > runs/s39/fuzz41.log 2>&1
