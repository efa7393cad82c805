"""torchrun and SLURM variables → rank, world size, local rank, master address and port."""
import pytest

from surgvlp_fast.training.distributed import DistEnv, first_host, read_env


def test_single_process_by_default():
    assert read_env({}) == DistEnv()


def test_torchrun():
    env = read_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "n1", "MASTER_PORT": "1234",
                    "SLURM_PROCID": "0", "SLURM_NTASKS": "2"})
    assert env == DistEnv(3, 8, 1, "n1", 1234, "torchrun")


def test_srun_one_task_per_gpu():
    env = read_env({"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "123456",
                    "SLURM_STEP_NODELIST": "gpu[07-08,11]", "SLURM_JOB_NODELIST": "gpu[01-20]"})
    assert env == DistEnv(5, 8, 1, "gpu07", 20000 + 123456 % 20000, "slurm")
    assert env.distributed and not env.is_main


def test_srun_master_overrides_and_single_task():
    env = read_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "a1,b2",
                    "MASTER_ADDR": "head", "MASTER_PORT": "40000"})
    assert (env.master_addr, env.master_port) == ("head", 40000)
    assert read_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_JOB_NODELIST": "a1"}) == DistEnv()


@pytest.mark.parametrize("nodelist,host", [("node1", "node1"), ("gpu[03-05,9]", "gpu03"), ("gpu[9,3]", "gpu9"),
                                           ("a-b[001-002],c", "a-b001"), ("x1,y[1-2]", "x1")])
def test_first_host(nodelist, host):
    assert first_host(nodelist) == host


def test_missing_nodelist_is_an_error():
    with pytest.raises(ValueError, match="NODELIST"):
        read_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "2"})
