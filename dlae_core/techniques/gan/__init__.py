"""GAN image translation shared by every backend (framework-free): pix2pix and cycleGAN.

* :mod:`.datasets` -- paired (pix2pix) and unpaired (cycleGAN) training samples, :func:`gan_data`;
* :mod:`.preview`  -- a dependency-free PNG writer and the per-epoch preview sheets;
* :mod:`.loop`     -- the epoch loop (D step(s) then G step per batch through a backend's
  :class:`~dlae_core.techniques.gan.loop.GanEngine`), logs, checkpoints, final generators, previews.

A backend supplies the engine (networks, optimizers, the two update steps, saving) and a batch
iterable; TECHNIQUES.md §8 and LOSSES.md §4 describe the objectives, docs/COMPATIBILITY.md
("GAN") the differences from the original.
"""
