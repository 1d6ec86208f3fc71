"""models/schedule.py: the one-cycle schedule runs at every length and leaves long runs as torch makes them."""
import pytest

torch = pytest.importorskip("torch")

from models.schedule import one_cycle


def _rates(total, pct):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    sched = one_cycle(opt, 0.01, total, pct)
    rates = []
    for _ in range(total):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


@pytest.mark.parametrize("pct", [0.05, 0.1, 0.3])
def test_every_length_runs(pct):
    for total in range(1, 41):
        rates = _rates(total, pct)
        assert len(rates) == total and max(rates) <= 0.01 + 1e-12
        if total >= 6:
            assert rates[0] < 0.01 and rates[-1] < max(rates)     # a warm-up and an annealing phase


def test_long_runs_keep_torchs_schedule():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=300, pct_start=0.1)
    expected = []
    for _ in range(300):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert _rates(300, 0.1) == pytest.approx(expected)
