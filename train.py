"""Same as `zoo train`: python train.py CONFIG.yaml [key=value ...] [--resume RUN].

Also the entry for multi-process training: torchrun --nproc_per_node=N train.py CONFIG.yaml
"""

import sys

from zoo.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
