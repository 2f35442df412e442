set -x
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz
cd /work/main
python runs/s39/frame_checks.py > runs/s39/frame_checks.txt 2>&1
python runs/s39/blank_paper.py --against runs/s39/before17.npz > runs/s39/blank_rule35.txt 2>&1
bash runs/s39/bench18.sh
