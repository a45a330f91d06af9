"""Training-step time of seed 004's 2.5-D PET/CT network (issue 12) on this machine: with the slice interaction
module (depthwise-convolution or Mamba channel branch) and without it (the plain 2.5-D U-Net), at two widths and two
slice sizes; AdamW steps of Dice-free BCE on random inputs (the time does not depend on the values), batch 8, 3
slices, PET and CT; the mean of 3 steps after 1 warm-up, with 2 torch threads.

    python benchmarks/igtv_step_time.py
"""
import time


def main():
    import torch

    from gtvlib.models.igtv import IGTVNet

    torch.set_num_threads(2)
    variants = {"slice interaction (conv)": {}, "slice interaction (Mamba)": {"mixer": "mamba"},
                "plain 2.5-D (no SIM)": {"slice_interaction": False}}
    print("| variant | widths | input (px) | parameters | s per step (batch 8) |")
    print("|---|---|---|---|---|")
    for size in (128, 64):
        for widths in ((16, 32, 64, 128), (8, 16, 32, 64)):
            for name, settings in variants.items():
                torch.manual_seed(0)
                model = IGTVNet(modalities=2, slices=3, widths=widths, **settings)
                optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
                x, y = torch.rand(8, 2, 3, size, size), (torch.rand(8, 1, size, size) > 0.9).float()
                for step in range(4):
                    if step == 1:
                        started = time.perf_counter()
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                seconds = (time.perf_counter() - started) / 3
                count = sum(p.numel() for p in model.parameters())
                print(f"| {name} | {'–'.join(map(str, (widths[0], widths[-1])))} | {size}² | {count:,} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
