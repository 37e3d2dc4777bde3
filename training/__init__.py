"""training: how the network is trained, apart from the network itself (nncore/).

    recipe.py      the defaults and ranges of every flag, the learning-rate schedule
    seeds.py       every random stream of a run, from one tree of seeds
    step.py        train_step (forward, loss, backward, update) and evaluate
    loop.py        the epochs: batches, progress bar, validation, checkpoints, Ctrl-C
    progress.py    where a run stands (saved in checkpoints), and metrics.csv
    checkpoint.py  save and restore a run: weights, optimiser state, random generators
    plots.py       the training curves and the confusion matrix as PNGs

train.py is the command that puts these together; the benchmark and the tests use
`train_step` too.
"""
