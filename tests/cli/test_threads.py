"""The thread policy (archgen/training/threads.py): 1 thread for small steps, the cores for large ones, the user's
OMP_NUM_THREADS or --threads kept, OpenMP's settings written before torch reads them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from archgen.training import threads
from archgen.training.threads import ONE_THREAD_BELOW, choose_threads, threads_for


def test_small_steps_take_one_thread_large_ones_the_cores() -> None:
    digits_step = 2_516_608 * 64  # the README's default: ResNet-20 on 8x8 digits, batch 64
    cifar_step = 40_551_552 * 128  # ResNet-20 on 32x32 CIFAR, batch 128
    assert threads_for(digits_step, cores=2) == 1
    assert threads_for(cifar_step, cores=2) == 2 and threads_for(cifar_step, cores=16) == 16
    assert threads_for(ONE_THREAD_BELOW, cores=4) == 4 and threads_for(ONE_THREAD_BELOW - 1, cores=4) == 1


def test_the_users_choice_and_a_gpu_run_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert choose_threads(1, device_type="cpu") is None and torch.get_num_threads() == before
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert choose_threads(1, device_type="cuda") is None
        assert choose_threads(1, device_type="cpu") == 1 and torch.get_num_threads() == 1  # control
    finally:
        torch.set_num_threads(before)


def test_torchrun_processes_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert threads.usable_cores() == 2


@pytest.mark.slow
def test_threads_and_the_wait_policy_reach_openmp_before_torch_starts() -> None:
    probe = ("import os; from archgen.training.threads import prepare_threads; prepare_threads(1); import torch; "
             "print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads())")
    env = {key: value for key, value in __import__("os").environ.items() if not key.startswith("OMP_")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert done.stdout.split() == ["PASSIVE", "1"], done.stderr
