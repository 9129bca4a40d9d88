"""The ImageNet weights files of the 18 pretrained networks, as ``keras.applications`` names them.

Each network has two files: with the ImageNet classifier ("with heads", ``include_top=True``) and
without it ("notop").  For each, :data:`WEIGHT_FILES` holds the file name Keras caches it under, the
URL Keras downloads it from and the hash Keras' ``get_file`` verifies (64 hex digits: sha256, else
md5 -- Keras auto-detects by length the same way).

Sources of the facts:

* Xception, VGG16/19, ResNet50/101/152(V2), InceptionV3, InceptionResNetV2, DenseNet121/169/201:
  ``keras/src/applications/*.py`` of Keras 3.15 (``WEIGHTS_PATH``, ``WEIGHTS_HASHES``, the
  ``file_hash`` arguments), all under https://storage.googleapis.com/tensorflow/keras-applications/.
* ResNeXt50/101: keras-applications 1.0.8 ``keras_applications/resnet_common.py`` (base URL
  https://github.com/keras-team/keras-applications/releases/download/resnet/, ``WEIGHTS_HASHES``;
  Keras 3's ``resnet.py`` still lists the same two hash pairs).
* MobileNet (alpha 1.0, 224 rows) and MobileNetV2 (alpha 1.0, 224 rows): Keras verifies *no* hash for
  these files.  The md5 values below come from the MIAnalyzer/MIA project (``weights`` release mirror
  of the Keras files), whose other 32 hashes for these networks are exactly Keras' own; the md5 of the
  MobileNetV2 file with heads is also reported by an independent download from Google's bucket.  They
  are therefore believed right but are not Keras' word (see :data:`THIRD_PARTY_HASHES`).
"""

from __future__ import annotations

import attrs

__all__ = ["WeightFile", "WEIGHT_FILES", "NETWORK_NAMES", "KERAS_BASE_URL", "RESNEXT_BASE_URL",
           "THIRD_PARTY_HASHES"]

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
RESNEXT_BASE_URL = "https://github.com/keras-team/keras-applications/releases/download/resnet/"


@attrs.frozen
class WeightFile:
    """One ImageNet weights file: what Keras calls it, where it comes from, what it must hash to.

    ``file_hash`` is None where no hash is known; such a file is not verified.
    """

    network: str
    include_top: bool
    file_name: str
    url: str
    file_hash: str | None


def _tf_kernels(network: str, stem: str, folder_url: str,
                top_hash: str, notop_hash: str) -> list[WeightFile]:
    """The two files named ``{stem}_weights_tf_dim_ordering_tf_kernels[_notop].h5`` -- the naming
    every network but the two MobileNets uses."""
    files = []
    for include_top, suffix, file_hash in ((True, "", top_hash), (False, "_notop", notop_hash)):
        name = f"{stem}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
        files.append(WeightFile(network, include_top, name, folder_url + name, file_hash))
    return files


def _named(network: str, folder_url: str, top: tuple[str, str],
           notop: tuple[str, str]) -> list[WeightFile]:
    """Two files with explicit ``(file name, hash)`` pairs (the MobileNets: alpha and rows in the name)."""
    return [WeightFile(network, include_top, name, folder_url + name, file_hash)
            for include_top, (name, file_hash) in ((True, top), (False, notop))]


def _resnet(network: str, stem: str, top_hash: str, notop_hash: str) -> list[WeightFile]:
    return _tf_kernels(network, stem, KERAS_BASE_URL + "resnet/", top_hash, notop_hash)


def _densenet(network: str, stem: str, top_hash: str, notop_hash: str) -> list[WeightFile]:
    return _tf_kernels(network, stem, KERAS_BASE_URL + "densenet/", top_hash, notop_hash)


# MobileNet / MobileNetV2 at Keras' defaults (alpha 1.0, 224 rows): "1_0_224" resp. "1.0_224"
_MOBILENET_TOP = "mobilenet_1_0_224_tf.h5"
_MOBILENET_NOTOP = "mobilenet_1_0_224_tf_no_top.h5"
_MOBILENET_V2_TOP = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"
_MOBILENET_V2_NOTOP = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"

#: file names whose hash is not Keras' own (Keras verifies nothing for them); see the module docstring
THIRD_PARTY_HASHES = frozenset({_MOBILENET_TOP, _MOBILENET_NOTOP, _MOBILENET_V2_TOP, _MOBILENET_V2_NOTOP})

_ALL: list[WeightFile] = [
    *_tf_kernels("Xception", "xception", KERAS_BASE_URL + "xception/",
                 "0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97"),
    *_tf_kernels("VGG16", "vgg16", KERAS_BASE_URL + "vgg16/",
                 "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
    *_tf_kernels("VGG19", "vgg19", KERAS_BASE_URL + "vgg19/",
                 "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
    *_resnet("ResNet50", "resnet50",
             "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    *_resnet("ResNet101", "resnet101",
             "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    *_resnet("ResNet152", "resnet152",
             "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    *_resnet("ResNet50V2", "resnet50v2",
             "3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    *_resnet("ResNet101V2", "resnet101v2",
             "6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    *_resnet("ResNet152V2", "resnet152v2",
             "a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
    *_tf_kernels("ResNeXt50", "resnext50", RESNEXT_BASE_URL,
                 "67a5b30d522ed92f75a1f16eef299d1a", "62527c363bdd9ec598bed41947b379fc"),
    *_tf_kernels("ResNeXt101", "resnext101", RESNEXT_BASE_URL,
                 "34fb605428fcc7aa4d62f44404c11509", "0f678c91647380debd923963594981b3"),
    *_tf_kernels("InceptionV3", "inception_v3", KERAS_BASE_URL + "inception_v3/",
                 "9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63"),
    *_tf_kernels("InceptionResNetV2", "inception_resnet_v2", KERAS_BASE_URL + "inception_resnet_v2/",
                 "e693bd0210a403b3192acc6073ad2e96", "d19885ff4a710c122648d3b5c3b684e4"),
    *_densenet("DenseNet121", "densenet121",
               "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    *_densenet("DenseNet169", "densenet169",
               "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    *_densenet("DenseNet201", "densenet201",
               "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
    *_named("MobileNet", KERAS_BASE_URL + "mobilenet/",
            (_MOBILENET_TOP, "03394917f9a9ea3362f46332a5b6a215"),
            (_MOBILENET_NOTOP, "725ccbd03d61d7ced5b5c4cd17e7d527")),
    *_named("MobileNetV2", KERAS_BASE_URL + "mobilenet_v2/",
            (_MOBILENET_V2_TOP, "321911b381f6fd09b744356f6796ee18"),
            (_MOBILENET_V2_NOTOP, "f1a68526548f7541cda07e19ba6c85f4")),
]

#: (network, include_top) -> its weights file
WEIGHT_FILES: dict[tuple[str, bool], WeightFile] = {(w.network, w.include_top): w for w in _ALL}

#: the 18 network names, in the order of the DLAE encoder list
NETWORK_NAMES: tuple[str, ...] = tuple(dict.fromkeys(w.network for w in _ALL))
