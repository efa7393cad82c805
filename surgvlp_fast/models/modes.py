"""`eval_mode(model)`: the model in eval mode inside a block, its own mode back after it (also on an error)."""
from contextlib import contextmanager


@contextmanager
def eval_mode(model):
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
