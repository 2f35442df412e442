set -x
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz PYTHONPATH=/work/main
cd /work/main
time python runs/s39/comb_numbers.py > runs/s40/comb_numbers41.txt 2>&1
time python runs/s39/line_numbers.py > runs/s40/line_numbers41.txt 2>&1
time python evaluation/numbers.py > runs/s40/numbers41.log 2>&1
time python evaluation/handwriting.py > runs/s40/handwriting41.log 2>&1
time python evaluation/fuzz.py --n 2000 --seed 43 --workers 1 --out /tmp/fuzz43.json > runs/s40/fuzz43.log 2>&1
