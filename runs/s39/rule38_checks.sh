set -x
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz PYTHONPATH=/work/main
cd /work/main
python runs/s39/frame_checks.py --step drop_rule_line > runs/s39/rule_line_checks.txt 2>&1
python runs/s39/blank_paper.py --against runs/s39/before18.npz > runs/s39/blank_rule38.txt 2>&1
bash runs/s39/bench19.sh
