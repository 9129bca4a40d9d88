"""Pretrained ImageNet encoders: the Keras weights files of the 18 networks (framework-free).

:mod:`.weight_files` is the table (file names, URLs, hashes); :mod:`.download` finds a file in the
weights folder or downloads it once.
"""
