"""`python -m archgen` (and `torchrun -m archgen train …`) runs the command line."""

from archgen.cli import main

main()
