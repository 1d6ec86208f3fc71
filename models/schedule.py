"""Learning-rate schedule shared by the training commands."""
from __future__ import annotations


def one_cycle(opt, max_lr: float, total_steps: int, pct_start: float = 0.3):
    """torch's OneCycleLR (warm-up over `pct_start` of the steps, then cosine annealing) that also runs short:
    torch's divides by zero when a phase is exactly one step long (e.g. 10 steps at 0.1), so the warm-up lasts at
    least 2.5 steps, and under 6 steps the rate stays at `max_lr`. Long runs get torch's schedule unchanged."""
    import torch
    if total_steps < 6:
        for group in opt.param_groups:
            group["lr"] = max_lr
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total_steps,
                                               pct_start=max(pct_start, 2.5 / total_steps))
