"""The images of ../shared/benchmarks/external-v1 (evaluation only), by content: no photo of theirs may
make a synthetic item and no training or validation image may be one of them, whatever its name.

The SHA-256 of its 91 images ship here, so the guard works where the benchmark folder is absent (an
installed app); where the folder is beside the checkout its images are hashed too, so a benchmark
that grows is still covered. A copy re-encoded or resized has other bytes and is not caught here;
synth.RESERVED_SOURCES also refuses the wallpaper packages the benchmark was made from, by path.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable

from engine.errors import DeclipError
from engine.hashing import file_sha256

BENCHMARK = "../shared/benchmarks/external-v1"
BENCHMARK_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "external-v1"

EXTERNAL_V1_SHA256 = frozenset({
    "0067c520f848acccdf25ad7c01c441da5a0f5ffe34a0f227ebf32cb5fbb9fb03",
    "05ad15c09939e5233b78b286b23baa1ddd602edc35cc4cf7fbb47a9972e1d76d",
    "0a4ea39b653907069d7209cb46ab78d4098a023ffc12fecd5b52c7673a3b42cc",
    "0b676f26d8184966ac5cc0f2f229737a0c648f894929ccad7badabaa43128aff",
    "0d0b433248061cbb91c28a4fcfcf62932b66a18582874ca6217e160c57174d6d",
    "11d6c3ed685ae35bd865dc1bf75c42188d8abde92f786073fb507708deb9e268",
    "1255e41a7c1202a8c8e8a20805d34b4f998809859941ac2254df6413f30fde04",
    "15d55e1febae28b36ec2edcda0306f999bf98330ef4b1cd3ac1f592012550602",
    "1a8bf314aba027b2fe7234d9ca7e389d9d67db04c2514fc38f2b87230bd841c0",
    "1d4127e69a2f85eb233460d302c1ba2fd1695fd8eebf5f7b883a56eb32530ecd",
    "1fa23a9e908aedb13549b63f97a1924c677f330056c53de4c040d52ce457a7f8",
    "211cd75fb80f25a27fbaa0485e59b6e5a014266d78f7e526eba6b4bbc4f1e10b",
    "2359ec7eb34f90a551f4e02d2c3d1a5e580c79a2144600bc5e3b918439fdbf7a",
    "244eafb7fcdc5c5d647d9947661462376ef9b5c6593874216ed840f26ea9473a",
    "27a01e6eb4e6bcadaf171c058cba1d038a4bd9865937d9f1dbccb6f1f0af4bdb",
    "2b03608a66ac58df88d50a73a6b5792bd13ddefad17d686cfc825363287732fa",
    "2ed1ec665363507dead087a86578bcb7d0198bf5f1d08d2436f9681de22b3dec",
    "30ed8b3d0a6caa62f82aeafd829cf0343b5814422365a478e083bf6b312c1c52",
    "32dce57b7f50ffbbf1a7dc0f89dcb29f2e77270237a623ac6484b5612952e1c7",
    "32e3b82d1eafbea2c2f536c5e1e849cba0c5afd314b408e004d2b3526d21078e",
    "3595fa1839dddb16d80da3400256441039d5caae39fbb4d98a89201e88488aaa",
    "3df9d85faac2ea1b24535b696f33e02634a63732611745d293fc2fa8f323b15c",
    "422a74599347238614c7689a63501c9761d34b971ff217248ce56356b340df76",
    "449a9dd1b1d2c05c291b172b2195575794969359f933bf3f8c576a3618ab421a",
    "46f73d5c031de170172132c0c6be8777399b2bf0bfd3d53c31b8924b58fa55bc",
    "498ee7de168e07b45428f18ee4c241abe349a6dbd8872253aa47920ab1ccc052",
    "4a2dc639c4d941d9932cc201ff41c1fa63380b213db4afe6b6c029fcf48120d4",
    "4c0fd7eca46bb79bdcfc15b060fe81133689003a3b00a17a8dd4cd6fb66f392d",
    "4cae684267a4c4261959bc57ab3ba22e658ed809d419fad5caeb4e95850feb3b",
    "4eee5690baae961b5f7477a1ccab9f79f557cad4331dbbe22a3ce600c736ab76",
    "5090724cd956ac2336e367a3c07619852ea8c04617fa477fbd49a39fc689e8e3",
    "586eab0f27d14e55e69a230b3dc1399ffe42376c9f51eae08dcd312fc3a77207",
    "596ba1cd2345749cffe68728def07db7a93f87efd29750bdebeabd761d68ee0e",
    "5cd1c0f0a9e1047d851553d0a0b721603b048ef5e78c98c19567f843d38026bc",
    "5cee43ca65eaedc6781a022ce4b92d44d2f647df43d4d126ea931aa7f5b09e0a",
    "62f641d9386b74a2014bb52ec1ab3391500bc57b9f29fb965fa8392eb78dfcef",
    "66e544c51a9e8d2ffc13c4361e2fb2d6c75084b7f5cb236be78febf252bbd727",
    "6adaf3dddf4338c17742eec1f2e22f446119bcda715c488f175e9020d7ee9cc3",
    "6d17f5eeec899ba2259a06b6c1999fa7c9389182963b1b9ecbbdff19fc530dc3",
    "6d767c71ba6ff6f93e608119e1b52493f8046f523184a7c28e6585cd174dd4f1",
    "6d88058b8ddc4c3c7b95470aebbb5af0218f3513def38735213222e0a13b9ef5",
    "6fd91ca0f1838f54b9b69c775d8306fd465f80efb6ebd2ab98fc411e2c1ac820",
    "716de2ac31634f8d2e6bf2e1a76ef7d3afa9935c49fbfffcc045968f51fea395",
    "752c2005173d6553af118dad3b4aabd923b2330bacb9f54700ae42f506b72ece",
    "75e428578f1e6f38a97123ed466a194485515d9392119e83fa93db3ce1b5726e",
    "79f87aadfe1c4143ae8ea0ad627190a59c8dca429603a088a9eed212e9b874d6",
    "7c21036698b63e7a59757e404cb28a619fa09d147f88b046907eb011ad6687c1",
    "811297a4d5c4dbe22e2a93f9acd9e041a4e21690303cc4d2cbb9a1378a34866f",
    "8517764c70095c287f70da0aff3b845974cd96458de20f938427cdc632f91d14",
    "8538207135cf770557cd1f3be6164c2e458aecb04be54103af8c30b0e8d02e7b",
    "85a1b179a2fb19d8f5f7a5b067abba0720a8a1751dd8976a3d65f2372fe45514",
    "88954f3989c91d78bb1918d8ff4cd3afcb8b64b0c51950d5ad92c6bd8a8a34e2",
    "8e330d8df349c93bf81b89c7382e87a81c9cde68dd20318749db32397aecb7cb",
    "9098913e58bd7fd593b3d84be27a49796232989fa18b215efb7e462214b12297",
    "913258c310eaca320945748376f2d83a5e12af746f64a1a7ce09d8acc06f5a36",
    "9532378bcf081fa613d14a32fb48a6a7747252fe019dbb6270f0df538cdace48",
    "9bb21c2d74254113b11af5d9c6d67e058f8c747ae73a2e4da88d94161a38e927",
    "9d9c42d4c38a4fd93c157b496eac8137ca8b24c51e66ee131af2feb087c0a6f8",
    "9df9d2e917ddbba267d64c15157c600241f3cbcfc0df2fe102c561970536864b",
    "9f85b36520585eb6ebf87cfb61bdf4bc87bde479df7e887ae147e230e3169670",
    "a304a3128fcab0228b6423949ecda30ebda89ed9f178ff9b1b4dfc55ded66f09",
    "aa14a5c77ca19f6d6580980167be05c3a1bdf412ca1ac1bb19ed2bc7d759e562",
    "ab1b7ad3ae2a95b5dc2ea856749a8ff215430c9f60353612717924340625d8e1",
    "ab4955a3f5e5ab0809a107558b2c90ae5e6cecf05daefc4c6ff702830bac9cf3",
    "ac6db225feb0259b811f8f1f58051ca9231a17be99de98b03ffaee4a5e4ebbd4",
    "b5ac5850e5cb5a7a00833e8f3d0ccd4aac8549364c4e125126b35920cb8c1974",
    "bb05242008c8b4be2dd862c8a1364ce5b009aa929c09e2d8224a3d16305d3f53",
    "bb2a87b73f180252e7aa5eacd2638bcfb432025a42dbb2d6e72e34b275029e76",
    "bfbc760d95dfaed981f4b20814cc7ae0ad192d8e1bee67dda6a6ead804b0a461",
    "bfd989af451a046486a0efebe63b402ceb3d6e68afb1861230abaab6162cd226",
    "c40d3c8e2b51a76f798156d82bf5a570b3cfca95332784bd94f5bc8a88858e6d",
    "c6892dd856196c00f561db4c945a8acd3455f143cc988d03a49478cb74abc3bf",
    "c8d8240c300251cdbe647f0601f5e375bb88b065569fc665974e87ce2f622154",
    "c9227ae28104674e8eec817f3daa16c050510c35aa65fc71b9e2d519080a5f48",
    "cc6d00040ce989978246d4eef06850f590683b7f839d4abc23251c8b001f8157",
    "ccb376b17f7a43285a66dba1b89051f3f212bbc8af50adc9dda630220b21d319",
    "d676105afae4350bf51886f00a02c6fdad73069eb3ac921d345514c795c80e94",
    "d9f0aabdd26d266e9d2ca033ec000d53ac05feb8572b28f5748869cb3db746cc",
    "dda5c5ca5eb2a299423d0127f8ca7575e958036f4c114b0a87345ca3058ba056",
    "deb8fd0a005cf7650588a6c3d3bd8c47ca1709295cf80105e8038bfb7dbe898a",
    "e018a27d39fe68951de741668fb3eca9c538da909e2080142d9eded7f5361cfb",
    "e6340280a76c7b816cdff0027011df4a1e0e319aeacda32b3a3d0f718c91101f",
    "e9c04236557b0e5d6fd2dfafb7ccedc042ef4fefd67332db228e7cd62a46933f",
    "ed9953d9d0bff7de1a525c36026d4755cf41700ee6227b697d2eeadb33442400",
    "ef2dfe115e457c98fcec6a861b5c32eda1a1b1d9494ccd497707a93ccb09bb68",
    "f406b86a811f045708af9ee77865eaecb73ccd95896d501702c31b765b1a922e",
    "f5bb818995fb463237d717307f051aad28418bcee6cb291c798f0f7693440735",
    "f8bdcc64cc6a5c4a0fa785952850d2670267cf8d94ab843fa786cc155eb0dff8",
    "fa792a1d7fa17b0a855b0a99bd7192aed735287d92a8d638b485b3f62a424bb5",
    "fbd8797a7d48b766c3ee82f8c09fb76c15377005e43bc5d82399b8eb556be651",
    "fe0331dd8e7cdc7635bd9e9efff63635312e85f6cac4f499eb7a1a5d0a40995e",
})


@lru_cache(maxsize=1)
def reserved_sha256() -> frozenset[str]:
    """The shipped hashes, plus those of the benchmark folder's images when it is present."""
    found = set(EXTERNAL_V1_SHA256)
    folder = BENCHMARK_DIR / "images"
    if folder.is_dir():
        for p in folder.iterdir():
            try:
                if p.is_file():
                    found.add(file_sha256(p))
            except OSError:  # an unreadable file there guards nothing; the shipped list still does
                continue
    return frozenset(found)


class ReservedImageError(DeclipError):
    """An image of the evaluation-only benchmark was offered as training data."""


def refuse_reserved(paths_and_hashes: Iterable[tuple[Path, str]], where: str) -> None:
    """Refuse in one line when any (path, sha256) is one of the benchmark's images; `where` names the
    folder or split they came from."""
    reserved = reserved_sha256()
    hits = [p for p, sha in paths_and_hashes if sha in reserved]
    if hits:
        raise ReservedImageError(f"{where}: {len(hits)} image(s) are byte for byte images of {BENCHMARK}, which is "
                                 f"for evaluation only (first: {hits[0]}); remove them from the training data")
