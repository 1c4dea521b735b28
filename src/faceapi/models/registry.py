"""The seven face-api.js models' weight files and the SHA-256 sums we pin them to (the weights' source of
truth). Which net reads which model is its spec's ``model`` (`faceapi.nets.NET_SPECS`).

The files are those of the npm package ``@vladmandic/face-api@1.7.15`` (folder ``model/``), which are the
original face-api.js weights repackaged (one ``.bin`` per model instead of 4 MiB shards).
"""

from __future__ import annotations

from dataclasses import dataclass

NPM_PACKAGE = "@vladmandic/face-api@1.7.15"


@dataclass(frozen=True)
class ModelFiles:
    """One model: its name (file stem) and the pinned hashes of its manifest and weights."""

    name: str
    manifest_sha256: str
    bin_sha256: str

    @property
    def manifest(self) -> str:
        return f"{self.name}-weights_manifest.json"

    @property
    def bin(self) -> str:
        return f"{self.name}.bin"

    @property
    def files(self) -> dict[str, str]:
        """File name -> pinned SHA-256."""
        return {self.manifest: self.manifest_sha256, self.bin: self.bin_sha256}


MODELS: dict[str, ModelFiles] = {
    m.name: m
    for m in (
        ModelFiles(
            "ssd_mobilenetv1_model",
            "888f744dffbc84f5f060d1f8427d9742341943a2dfaaf9205d10029b7e7a2955",
            "2835640602d53718aa6ae9a42896327eaa21beefed056c218d32ca7d79e1e2f8",
        ),
        ModelFiles(
            "tiny_face_detector_model",
            "5d1af4849ac48d5b985f4a9b16010c512353ddd6fcc63d50fd0bc9e9e64296e5",
            "b7503ce7df31039b1c43316a9b865cab6a70dd748cc602d3fa28b551503c3871",
        ),
        ModelFiles(
            "face_landmark_68_model",
            "ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9",
            "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b",
        ),
        ModelFiles(
            "face_landmark_68_tiny_model",
            "9a1a5dd19fd814fd5095c3cb58f8e0d3193b8c5b9a6715b30a69d559aea31ad4",
            "b98e9f2f7da76f8a6dda9741a36ed485b224b889d552de2b2c1bb16217f67bfc",
        ),
        ModelFiles(
            "face_recognition_model",
            "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b",
            "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
        ),
        ModelFiles(
            "face_expression_model",
            "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8",
            "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
        ),
        ModelFiles(
            "age_gender_model",
            "74b60bf3ebf981bf4e661e9cca3a185614e10b25d797118b62e2a68d3ff2569f",
            "49f92bbc0afef2342c4385e4a2b0acb6d7a727c6f0aa539499719a81acf9abaa",
        ),
    )
}

@dataclass(frozen=True)
class StateDictFiles:
    """A model shipped as one PyTorch state dict (``.pth``, read without PyTorch: `faceapi.models.pth`):
    its name, file and pinned SHA-256, and where it came from."""

    name: str
    file: str
    sha256: str
    source: str

    @property
    def files(self) -> dict[str, str]:
        """File name -> pinned SHA-256."""
        return {self.file: self.sha256}


#: Minivision's Silent-Face-Anti-Spoofing nets (Apache-2.0, LICENSE beside them in
#: ``faceapi/models/minifasnet/``), copied unchanged from minivision-ai/Silent-Face-Anti-Spoofing @ b6d5f04a,
#: ``resources/anti_spoof_models/``. The file names carry upstream's crop rule (scale, input size, net).
LIVENESS_MODELS: dict[str, StateDictFiles] = {
    m.name: m
    for m in (
        StateDictFiles("minifasnet_v2_2.7", "2.7_80x80_MiniFASNetV2.pth",
                       "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0",
                       "minivision-ai/Silent-Face-Anti-Spoofing@b6d5f04ad78778917853b25c778acef6d5626d15"),
        StateDictFiles("minifasnet_v1se_4.0", "4_0_0_80x80_MiniFASNetV1SE.pth",
                       "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990",
                       "minivision-ai/Silent-Face-Anti-Spoofing@b6d5f04ad78778917853b25c778acef6d5626d15"),
    )
}

#: SHA-256 of each model's decoded tensors (`faceapi.models.store.tensors_sha256`: names, dtypes, shapes and
#: values in manifest order). An original face-api.js ``weights/`` folder (4 MiB shards and a differently
#: formatted manifest, so neither file hash above applies) is verified against these: a changed shard or a
#: changed manifest (names, shapes, quantisation) changes the decoded tensors.
DECODED_SHA256: dict[str, str] = {
    "ssd_mobilenetv1_model": "e57d8845234747f237057e169f06de3f62e32f2de2fe251ca2ca8286b806d22d",
    "tiny_face_detector_model": "747684930c107b10552c82d643037d08eb39381aed110844ad29e590c8bcc5b1",
    "face_landmark_68_model": "7469ff75cd4a84aa908cd243c524c1a0bf539e25487ac94c97139d6a4dc50c25",
    "face_landmark_68_tiny_model": "5303d13a7532177f031bf05d7ed6db56d977c85d6b08cf982e3136d629e97799",
    "face_recognition_model": "e95dd6269f53a9ad8085940093ec45cafcee2c0330da2cf406d89038cdf6797c",
    "face_expression_model": "da85ca7815a6f41ea139309b0b1c5d2c4d20c8d244a74ef30f6df0f5c0d9e823",
    "age_gender_model": "5f6a6f0194cbcd8e957b6d3cf554581a0d0283f6fecd9622ae80fac9f9079de5",
}
