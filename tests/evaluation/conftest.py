import pytest
from eval_fakes import PROMPTS, train_tokenizer


@pytest.fixture(scope="session")
def tokenizer():
    return train_tokenizer(PROMPTS * 3 + ["the grasper holds the gallbladder", "clip and cut the duct"])
