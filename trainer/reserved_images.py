"""The images of ../shared/benchmarks/external-v1 (evaluation only): no photo of theirs may make a
synthetic item and no training or validation image may be one of them, whatever its name or encoding.

Two checks, both on content. Byte for byte: the file's SHA-256 is one of the benchmark's. Looks like:
its perceptual hash (trainer.perceptual_hash: 480 bits comparing neighbouring cells of a 16 x 16 grid of
grey means, EXIF orientation applied; taken as shown, mirrored, half-turned and upside-down mirrored) is
within MATCH_DISTANCE bits of a benchmark image's. The refusal says which, and names the benchmark image.

Caught: copies re-encoded as JPEG (quality 50 and up) or PNG, resized 0.25x to 2x, both at once, with
their orientation in an EXIF tag, mirrored or half-turned, brightened, with more contrast or in grey,
and another local edit (a few % of the picture) of a benchmark photo. Not caught: crops (the grid
moves), heavy edits (most of the picture repainted, collages), quarter turns without an EXIF tag and
other rotations, and another photograph of the same scene.

Measured with scripts/reserved_phashes.py --measure on the 91 images: copies are 0-57 bits from their own
image's hash (worst: a quarter size at JPEG quality 50 of a misty, nearly flat picture; 48 at half size,
38 for a lossless 1.5x), the edited versions 0-47 from their authentic one. 503 unrelated images (the
training photos, /usr/share/backgrounds, resources/samples, build/evidence-synth, build/r21) are 105 or
more from every benchmark hash in the four orientations (137 as shown). MATCH_DISTANCE = 72 (15 % of the
bits) is 15 above the farthest copy and 33 below the nearest unrelated image. Cost: one grey decode at
reduced size, about 2 ms an image (build/evidence-synth, 346 images: 0.7 s), once per file and process.

EXTERNAL_V1 (both hashes of the 91 images, under their file names) ships here, so the guard works where
the benchmark folder is absent (an installed app); where the folder is beside the checkout, images there
that the table lacks are hashed too, so a benchmark that grows is still covered. A file the guard cannot
decode is skipped: the callers report unreadable images themselves. synth.RESERVED_SOURCES also refuses
the wallpaper packages the benchmark was made from, by path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from engine.errors import DeclipError
from engine.hashing import file_sha256

from . import perceptual_hash

BENCHMARK = "../shared/benchmarks/external-v1"
BENCHMARK_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "external-v1"
# at most this many of perceptual_hash.BITS (480) differ for "looks like"; why 72: the measurements above
MATCH_DISTANCE = 72

EXTERNAL_V1 = {  # file name: (SHA-256, perceptual_hash.image_hash); printed by scripts/reserved_phashes.py
    "BytheWater_authentic.jpg": ("716de2ac31634f8d2e6bf2e1a76ef7d3afa9935c49fbfffcc045968f51fea395", "c0808603a587734f3e1c38387c7f80f601fe33e70e7867c31e3833c4bf8480017fff0004fefdff0300ff3ff8fb000007803861c30e1c787081c907a4"),
    "BytheWater_copymove.jpg": ("6d767c71ba6ff6f93e608119e1b52493f8046f523184a7c28e6585cd174dd4f1", "c0808603a587734f3e1c38387c7f88f611fe13e70e7867c31e3833c4bf8480017fff0004fefdff0300ff3fe8fb000017803861c30e1c787081c907a4"),
    "BytheWater_recolour.jpg": ("15d55e1febae28b36ec2edcda0306f999bf98330ef4b1cd3ac1f592012550602", "c0808603a587734f3e1c38387c7f80f601fe33e70e7867c31e3833c4bf8480017fff0004fefdff0300ff3ff8ff000007843861c30e1c787081c907a4"),
    "BytheWater_removal_line.jpg": ("0b676f26d8184966ac5cc0f2f229737a0c648f894929ccad7badabaa43128aff", "c0808603a587734f3e1c38387c7f80f601fe33e70e7867c31e3833c4bf8480017fff0004fefdff0300ff3ff8fb000007803861c30e1c787081c907a4"),
    "BytheWater_removal_patch.jpg": ("1fa23a9e908aedb13549b63f97a1924c677f330056c53de4c040d52ce457a7f8", "c0808603a587734f3e1c38387c7f80f601fe33e70e7867c31e3833c4bf8480017fff0004fefdff0300ff3ff8fb000007803861c30e1c787081c907a4"),
    "BytheWater_splice_hard.jpg": ("9bb21c2d74254113b11af5d9c6d67e058f8c747ae73a2e4da88d94161a38e927", "c0808603a587734f3e1c38387c7d80f701ea33cf0e7867c31e3833c4bf8480017fff0004fefdff0300ff3ff8fa000207803863c30e1c787081c907a4"),
    "BytheWater_splice_poisson.jpg": ("ab4955a3f5e5ab0809a107558b2c90ae5e6cecf05daefc4c6ff702830bac9cf3", "c08086038d87e34fae1f3c3b7c7d80f701fe33e70e7867c31e3833c4bf8480017fff0204f8fdfe0303ff3ff8fb000007803861c30e1c787081c907a4"),
    "ColdRipple_authentic.jpg": ("9098913e58bd7fd593b3d84be27a49796232989fa18b215efb7e462214b12297", "fc81fd03fc07f80ff01fe03f637ec68f193c3a7864f073e06fb07f207e4018001db4039c0000000000000000000000001e780c001800100420060000"),
    "ColdRipple_copymove.jpg": ("c8d8240c300251cdbe647f0601f5e375bb88b065569fc665974e87ce2f622154", "ff013d027a04f809f01bc03f637ec68f193c3a786cf073e06fa07fa07e00050801f813e838003c0010000000000000001e780c001800100420060000"),
    "ColdRipple_recolour.jpg": ("aa14a5c77ca19f6d6580980167be05c3a1bdf412ca1ac1bb19ed2bc7d759e562", "fd01fd03f907fc0ff01fe03f637ed68f193c327864f073e0efa57fa07e4001400c3806d80000000100000000000000001e780c001800101c203e0000"),
    "ColdRipple_removal_line.jpg": ("9532378bcf081fa613d14a32fb48a6a7747252fe019dbb6270f0df538cdace48", "fe81ff03f507f80ff01fe03f437ec68f193c3a786cf073e06fb07fa07e4014c20ab805dc0000000000000000000000001e780c001800100420060000"),
    "ColdRipple_removal_patch.jpg": ("752c2005173d6553af118dad3b4aabd923b2330bacb9f54700ae42f506b72ece", "fe81ff03f407f80ff01fc03f637ec68f193c3a786cf073e06fb07fa07e4014c20ab8059c0000000000000000000000001e780c001800100420060000"),
    "ColdRipple_splice_hard.jpg": ("1d4127e69a2f85eb233460d302c1ba2fd1695fd8eebf5f7b883a56eb32530ecd", "fc81fd03fc07f80ff01fe83f5b7ede8f693c3a7864f073e06fb07f207e4018001db4039c0000000000000040003000001e780c001800100420060000"),
    "ColdRipple_splice_poisson.jpg": ("4cae684267a4c4261959bc57ab3ba22e658ed809d419fad5caeb4e95850feb3b", "fd01fd03f907fb0ff31ff23f1b7e9e8f193c3a7864f073e06fb07fa07e4001400c38069800c0007100100000000000001e780c001800100420060000"),
    "ColorfulCups_authentic.jpg": ("0d0b433248061cbb91c28a4fcfcf62932b66a18582874ca6217e160c57174d6d", "b9999933b99b3317398e73ae7b4e6a9c73dc659e733c6279c3519e49b63d3326513988c81ce6c027c6190f383100f1c281e7002400084c181e1c2324"),
    "ColorfulCups_copymove.jpg": ("6d88058b8ddc4c3c7b95470aebbb5af0218f3513def38735213222e0a13b9ef5", "b9999933b99b3317398c73aa7b4e6a9c73dc659e733c6279c3519e49b63d3326513988c81ce6c027c61907383900f1c281e7002400084c181e1c2324"),
    "ColorfulCups_recolour.jpg": ("f5bb818995fb463237d717307f051aad28418bcee6cb291c798f0f7693440735", "b9999933b99b3317398e73ae7b4e6a9e73de659e733c6279c2719e49b63d3326513988c81ce6c027c6190f383100f1c281e7002400084c181e1c2324"),
    "ColorfulCups_removal_line.jpg": ("dda5c5ca5eb2a299423d0127f8ca7575e958036f4c114b0a87345ca3058ba056", "b9999933b99b3317398e73ae7b4e6a9c73dc659e733c6279c3519e49b63d3326513988c81ce6c027c6190f383100f1c281e7002400084c181e1c2324"),
    "ColorfulCups_removal_patch.jpg": ("586eab0f27d14e55e69a230b3dc1399ffe42376c9f51eae08dcd312fc3a77207", "b9999933b99b3317398e73ae7b4e6a9c73dc659e733c6279c3519e49b63d3326513988c81ce6c027c6190f383100f1c281e7002400084c181e1c2324"),
    "ColorfulCups_splice_hard.jpg": ("bfd989af451a046486a0efebe63b402ceb3d6e68afb1861230abaab6162cd226", "b9999933b99b3317398e73ae7b4e6a9a73d6659e732c6279c3719e69b63d3326513988c81ce6c027c6190f383100f2c280e7022400084d181e1c2324"),
    "ColorfulCups_splice_poisson.jpg": ("e9c04236557b0e5d6fd2dfafb7ccedc042ef4fefd67332db228e7cd62a46933f", "b9999933b99b3317398e73ae3b4c6a9c73dc659e733c6279c3519e49b63d3326513988c81ce6c227c6190f383100f1c281e7002400084c181e1c2324"),
    "EveningGlow_authentic.jpg": ("ccb376b17f7a43285a66dba1b89051f3f212bbc8af50adc9dda630220b21d319", "fc09f8c1fc8478273617bc3f807ea065b29ad313569b03b40fc13b80730007f8f09ff07f3f080000fff31fff80000480310f4cfc97ff3fc37001e804"),
    "EveningGlow_copymove.jpg": ("ac6db225feb0259b811f8f1f58051ca9231a17be99de98b03ffaee4a5e4ebbd4", "fc09f8c1fc8478273617bc3f807eb065a29b4313d69a83b40fc13ba0730007f8f09ff07f3f080000fff11fff8000048031274cfc97ff3fc37001e804"),
    "EveningGlow_recolour.jpg": ("ef2dfe115e457c98fcec6a861b5c32eda1a1b1d9494ccd497707a93ccb09bb68", "fc09f8c1fc8478273617bc3f807ea065b29ad313569b03b40dc13ba0730007f8f09ff07f3f080000fff31fff80000480310f48fc97ff3fc37001e804"),
    "EveningGlow_removal_line.jpg": ("d9f0aabdd26d266e9d2ca033ec000d53ac05feb8572b28f5748869cb3db746cc", "fc09f8c1fc8478273617bc3f807ea065929ad313569b03b40fc13ba0730007f8f09ff07f3f080000fff31fff80000480310f4cfc97ff3fc37001e804"),
    "EveningGlow_removal_patch.jpg": ("913258c310eaca320945748376f2d83a5e12af746f64a1a7ce09d8acc06f5a36", "fc09f8c1fc8478273617bc3f807ea0653298d313569f03b40fc13ba0730007f8f09ff07f3f080000fff11fff80000500330f4cfc97ff3fc37001e804"),
    "EveningGlow_splice_hard.jpg": ("c6892dd856196c00f561db4c945a8acd3455f143cc988d03a49478cb74abc3bf", "ec0938c0dc84f821b61dbc338076a065b29ad313569b03b40fc13ba0730007f8d89fe07f07081000fff11fff80000480310f4cfc97ff3fc37001e804"),
    "EveningGlow_splice_poisson.jpg": ("b5ac5850e5cb5a7a00833e8f3d0ccd4aac8549364c4e125126b35920cb8c1974", "fc09f8c1fc84782636169c3e807ea065b29ad313569b03b40fc13ba0730007f8f09ff37f3e080600f5f31fff80000480310f4cfc97ff3fc37001e804"),
    "FallenLeaf_authentic.jpg": ("4eee5690baae961b5f7477a1ccab9f79f557cad4331dbbe22a3ce600c736ab76", "d92f22dec53faca76f52bcf1e9e592d587664b6e16e34d9e3b986736967dfffc5fe01ffcf93ee0f973f78fcefa20040b2f647704e87c83638007900f"),
    "FallenLeaf_copymove.jpg": ("30ed8b3d0a6caa62f82aeafd829cf0343b5814422365a478e083bf6b312c1c52", "d92f22dec53faca76f52bcf1e9e592d547668b6f16e30d9e3b986736967dfffc5fe01ffcf93ee0f973f78f8efa20043b2f54770ce87c83638007900f"),
    "FallenLeaf_recolour.jpg": ("3df9d85faac2ea1b24535b696f33e02634a63732611745d293fc2fa8f323b15c", "d92f22dec53faca72f56bcf1e9ed92d587664b6e16e34d9e3b986736967dfffc5fe01ffcfd3ee8f973f787cefa20040b2f647704e87c83638007900f"),
    "FallenLeaf_removal_line.jpg": ("9d9c42d4c38a4fd93c157b496eac8137ca8b24c51e66ee131af2feb087c0a6f8", "d92f22dec53faca76f52bcf1e9e592d587664b6e16e34d9e3b986736967dfffc5fe01ffcf93ee0f973f78fcefa20040b2f647704e87c83638007900f"),
    "FallenLeaf_removal_patch.jpg": ("2b03608a66ac58df88d50a73a6b5792bd13ddefad17d686cfc825363287732fa", "d92f22dec53faca76f52bcf1e9e792d687664b6e16e34d9e3b986736967dfffc5fe01ffcf93ee0f973f78fcefb20040b2f647704e87c83638007900f"),
    "FallenLeaf_splice_hard.jpg": ("a304a3128fcab0228b6423949ecda30ebda89ed9f178ff9b1b4dfc55ded66f09", "d92f22dec53faca76f52bcf1e9e592d587674b4e169f4d9e3b186736967dfffc5fe01ffcf93ee0f173f78fcefa20040b28647704eefc83638007900f"),
    "FallenLeaf_splice_poisson.jpg": ("cc6d00040ce989978246d4eef06850f590683b7f839d4abc23251c8b001f8157", "d92f22dec53faca76f52bcf1e9e586d507660b6e16e24d9e3b986736967dfffc5fe01ffcf93ee0f173f78fcefa30040b2f547704e87c83638007900f"),
    "Grey_authentic.jpg": ("1255e41a7c1202a8c8e8a20805d34b4f998809859941ac2254df6413f30fde04", "9e1e1ffd1ff51ef94fe867f407b680369536d7f994cd9ccceccf8cf9ef71b4fff81e1c00671ff4c03f8092fcc90066bfbffa00402223199fcef16700"),
    "Grey_copymove.jpg": ("05ad15c09939e5233b78b286b23baa1ddd602edc35cc4cf7fbb47a9972e1d76d", "9e1e1ffd1ff51ef94fe867f407b680369536d7f994c99ccceccf8cd9ef71b4fff81e1c00671ff4c03f8092fcc90066bfbffa00002223191fcef16740"),
    "Grey_recolour.jpg": ("f8bdcc64cc6a5c4a0fa785952850d2670267cf8d94ab843fa786cc155eb0dff8", "9e1e1ffd1ff51ef94fe867f407b680369532d7f994cd9ccceccf8cf9ef71b4fff81e1c00671ff4c03f8092fcc90066bfbffa00402223199fcef16700"),
    "Grey_removal_line.jpg": ("0067c520f848acccdf25ad7c01c441da5a0f5ffe34a0f227ebf32cb5fbb9fb03", "9e1e1ffd1ff51ef94fe867f407b680369536d7f994cd9ccceccf8cf9ef71b4fff81e1c00671ff4c03f8092fcc90066bfbffa00402223199fcef16700"),
    "Grey_removal_patch.jpg": ("9df9d2e917ddbba267d64c15157c600241f3cbcfc0df2fe102c561970536864b", "9e1e1ffd1bf51ef94fe867f407b680369536d7f994cd9ccceccf8cf9ef71b4fff91e1c00661ff4c03f8092fcc90066bfbffa00402223199fcef16700"),
    "Grey_splice_hard.jpg": ("211cd75fb80f25a27fbaa0485e59b6e5a014266d78f7e526eba6b4bbc4f1e10b", "9e1e1ffd1ff51ef94fe865f40db680369536d7f994cd9ccceccf8cf9ef71b4fff81e1c006707f4c03f8892fcc90066bfbffa00482223199fcef16700"),
    "Grey_splice_poisson.jpg": ("596ba1cd2345749cffe68728def07db7a93f87efd29750bdebeabd761d68ee0e", "9e1e1ffd1bf512f973e867f407b6c0369536d7f994cd9ccceccf8cf9ef71b7fff91e1f80629ff4003f0092fcc90066bfbffa00402223199fcef16700"),
    "Infinite-Sea_authentic.jpg": ("fa792a1d7fa17b0a855b0a99bd7192aed735287d92a8d638b485b3f62a424bb5", "7cfa79faf3ffe3ffe7fec7ffcfff8fff1fff3ffe7ffceff9df73ffe31f8efbff7ffffffffdfffffffffffcfffe3ffe7ffe3fff1f0000000000000000"),
    "Infinite-Sea_copymove.jpg": ("62f641d9386b74a2014bb52ec1ab3391500bc57b9f29fb965fa8392eb78dfcef", "5cfe79faf3ffe3ffe7fec7ff95ffb3ff67ff3ffe7ffceff9df73ffe31f8efbff7ffffffffdfffffffffffcbffe47fee7fe7fff1f0000000000000000"),
    "Infinite-Sea_recolour.jpg": ("27a01e6eb4e6bcadaf171c058cba1d038a4bd9865937d9f1dbccb6f1f0af4bdb", "7cfa79faf3ffe3ffe7fec7ffcfff8fff03ff0ffe1ffc8ffe5f75ffe71f8efbff7ffffffffdfffffffffffcfffe7ffe7fff37ff9f0000000000000000"),
    "Infinite-Sea_removal_line.jpg": ("449a9dd1b1d2c05c291b172b2195575794969359f933bf3f8c576a3618ab421a", "7cfa79faf3ffe3ffe7fec7ffcfff8fff1fff3ffe7ffceff9df73ffe31f8efbff7ffffffffdfffffffffffcfffe3ffe7ffe3fff1f0000000000000000"),
    "Infinite-Sea_removal_patch.jpg": ("4a2dc639c4d941d9932cc201ff41c1fa63380b213db4afe6b6c029fcf48120d4", "7cfa79faf3ffe3ffe7fec7ffcfff8fff1fff3ffe7f3ceff9df73ffe71f8efbff7ffffffffdfffffffffffcfffe3ffe7ff83fff1f0000000000000000"),
    "Infinite-Sea_splice_hard.jpg": ("32dce57b7f50ffbbf1a7dc0f89dcb29f2e77270237a623ac6484b5612952e1c7", "7cfe79faf3ffc3ffc7ffe7ff8ff18fff1fff3ffe7ffceff9df73ffe71f8efbff7ffffffff3fff0ffffffe0ffc23ffe7ffe3fff1f0000000000000000"),
    "Infinite-Sea_splice_poisson.jpg": ("75e428578f1e6f38a97123ed466a194485515d9392119e83fa93db3ce1b5726e", "3cfe79faf3ffe3ffe7ffc5ffcffc9ff2ffe73ffe7ffceff9df73ffe31f8efbff7ffffffffd3ffffff8dffc3ff93ffeffff7fff9f0000000000000000"),
    "Kite_authentic.jpg": ("422a74599347238614c7689a63501c9761d34b971ff217248ce56356b340df76", "38b814f027e40f880f403c407b00f603ec03c013c327053200e24bc0979345b838736031d03398d00822c004c010e38037000c5004c001c103071f87"),
    "Kite_copymove.jpg": ("79f87aadfe1c4143ae8ea0ad627190a59c8dca429603a088a9eed212e9b874d6", "38b814f027e40f880f403c407b00f603ec03c0138327053600e24bc0979345b838736031d03398d00822c004c010e38037100c7004c001c103071f87"),
    "Kite_recolour.jpg": ("4c0fd7eca46bb79bdcfc15b060fe81133689003a3b00a17a8dd4cd6fb66f392d", "38b814f027e40f880f403c407b00f603ec07c01fc32f053200e24bc0979345b838736031d03398d00822c004c010e38037000f5007c001c103071f87"),
    "Kite_removal_line.jpg": ("bb05242008c8b4be2dd862c8a1364ce5b009aa929c09e2d8224a3d16305d3f53", "38b814f027e40f880f403c407b00f603ec03c013c327053200e04bc0d79345b838736031d03398d00822c004c010e38037000c5004c001c103071f87"),
    "Kite_removal_patch.jpg": ("e018a27d39fe68951de741668fb3eca9c538da909e2080142d9eded7f5361cfb", "38b814f027e40f880f403c407b00f603ec03e013c327053200e24bc0d79345b838736031d03398d00822c004c000e38837000c5004c001c103071f87"),
    "Kite_splice_hard.jpg": ("d676105afae4350bf51886f00a02c6fdad73069eb3ac921d345514c795c80e94", "38b814f027e40f880f403c407b06760e6c1cc079c3f305e200c24bc0d79345b838736031d03398d00822c704c790ef803f8003d00040004100071f87"),
    "Kite_splice_poisson.jpg": ("8e330d8df349c93bf81b89c7382e87a81c9cde68dd20318749db32397aecb7cb", "38b814f027e40f880f403c407b00f601ec03c013c327053200e24bc0d79345b838736031c03380d00022c004dc10e7802300085004c001c103071f87"),
    "Kleiber_authentic.jpg": ("85a1b179a2fb19d8f5f7a5b067abba0720a8a1751dd8976a3d65f2372fe45514", "46c29d851b0bf7196e32d875b8f9e0f3c1d303be06700cf81de02bc05780b5a25d82cdda6983e402200299ff0eff565cff80e18035c090004600de00"),
    "Kleiber_copymove.jpg": ("bfbc760d95dfaed981f4b20814cc7ae0ad192d8e1bee67dda6a6ead804b0a461", "46c29d851b0bf7196e32d875b8f9e0f3c1db03b206600cf81de02bc05780b5a25d82cdda6983e402200299ff0eff575cff80e58030c090004600de00"),
    "Kleiber_recolour.jpg": ("6d17f5eeec899ba2259a06b6c1999fa7c9389182963b1b9ecbbdff19fc530dc3", "46c29d851b0bf6196c32d875b0f9e0f3c1d303be06700cf81de02bc05780b5e25dc2cdfa69e3e402200299ff0eff565cff80e18035c090004600de00"),
    "Kleiber_removal_line.jpg": ("811297a4d5c4dbe22e2a93f9acd9e041a4e21690303cc4d2cbb9a1378a34866f", "c6c29d851b0bf7196e32d875b0f9e0f3c1d303be06700cf01de02bc05780b5a25d82cdda6983e402280299ff0eff565cff80e18034c090004600de00"),
    "Kleiber_removal_patch.jpg": ("11d6c3ed685ae35bd865dc1bf75c42188d8abde92f786073fb507708deb9e268", "c6c29d851b0bf7196e32d875b8f9e0f3c1d783be06700cf01de02bc05780b5a25d82cdda6983e402200299ff0eff567cff80e18034c090004600de00"),
    "Kleiber_splice_hard.jpg": ("deb8fd0a005cf7650588a6c3d3bd8c47ca1709295cf80105e8038bfb7dbe898a", "46c29d851b0bf7196e32d875b8f9e0f3c1f303ae06780c781de02bc05780b5a25d82cdda6983e402200299ff0eff565cf380e18039c097004600de00"),
    "Kleiber_splice_poisson.jpg": ("88954f3989c91d78bb1918d8ff4cd3afcb8b64b0c51950d5ad92c6bd8a8a34e2", "c6c29d855b0bb719ee37d876b8f7e0cbc1d383be06700cf01de02bc05780b5a25d82d9da6f83f802200291ff0cff587cff80e18034c090004600de00"),
    "OneStandsOut_authentic.jpg": ("9f85b36520585eb6ebf87cfb61bdf4bc87bde479df7e887ae147e230e3169670", "6650b9d76ead75622a1477962b7126a655aaca66b65bcee7493ad49acb35e6013dc7d3cb00387e82af7d7822c0282fd4d447313d0303e4c199166070"),
    "OneStandsOut_copymove.jpg": ("bb2a87b73f180252e7aa5eacd2638bcfb432025a42dbb2d6e72e34b275029e76", "6650b9d76ead75622a1477962b7126a655a94a66365dcee7493ad49acb35e6013dc7d3cb00387e82af7d7822c1282f54d447313d0303e4c199166070"),
    "OneStandsOut_recolour.jpg": ("2359ec7eb34f90a551f4e02d2c3d1a5e580c79a2144600bc5e3b918439fdbf7a", "6650b9576aad75e22a1457962b7126a655aaca66b65bcee7493ad49acb35e6013d87d3cb00387e82af7d78a2c0282fd4d447313d0303e4c199166070"),
    "OneStandsOut_removal_line.jpg": ("8517764c70095c287f70da0aff3b845974cd96458de20f938427cdc632f91d14", "6650b9d76ead75622a1477962b7126a655aaca66b65bcee7493ad49acb35e6013dc7d3cb00387e82af7d7822c0282fd4d447313d0303e4c199166070"),
    "OneStandsOut_removal_patch.jpg": ("7c21036698b63e7a59757e404cb28a619fa09d147f88b046907eb011ad6687c1", "6650b9d76ead75622a1477962b7526a655aaca66b65bcee7493ad49acb35e6013dc7d3cb00387e82af7d7022c2282bd4d447313d0303e4c199166070"),
    "OneStandsOut_splice_hard.jpg": ("66e544c51a9e8d2ffc13c4361e2fb2d6c75084b7f5cb236be78febf252bbd727", "6650b9d76ead75622a1477962b7126a655b2cae6b79bce67493ad49acb35e6013dc7d3cb00387e82af7d7822c0282fd4de47313d0303e4c199166070"),
    "OneStandsOut_splice_poisson.jpg": ("c9227ae28104674e8eec817f3daa16c050510c35aa65fc71b9e2d519080a5f48", "6650b9d74ead35636a15b7976b7526ae55aaca66b65bcee7493ad49acb35e60139c7d3cb08387682a57d7522c02828d4d447313d0303e4c199166070"),
    "Path_authentic.jpg": ("5090724cd956ac2336e367a3c07619852ea8c04617fa477fbd49a39fc689e8e3", "7342ce9f1d363abb35726aedd15ba2b354eba7c75f0a1e198c4cd99c7ad36207e00801494c0ce2589b7ebff7df0f305d0460f196e24f9d13008f1e63"),
    "Path_copymove.jpg": ("6fd91ca0f1838f54b9b69c775d8306fd465f80efb6ebd2ab98fc411e2c1ac820", "7342ce9f9d377abab5726af5d16ba2b354eba7c75f0a1e198c4cd99c7ad36207c00801494c0cea58af7e97f7d70f305d0460f196e24f9d13008f1e63"),
    "Path_recolour.jpg": ("ab1b7ad3ae2a95b5dc2ea856749a8ff215430c9f60353612717924340625d8e1", "7342ce9f1d763afb35f24aeddd5ba2b354eba7c75f0a1e198c4cd99c7ad36207e0020101c404e2589bfebff7df0f305d0460f196e24f9d13008f1e63"),
    "Path_removal_line.jpg": ("498ee7de168e07b45428f18ee4c241abe349a6dbd8872253aa47920ab1ccc052", "7342ce9f1d363abb35726aedd15ba2b354eba7c75f0a1e198c4cd99c7ad36207e00a0149cc0ce2589b7ebff7df0f301d0460f194e24f9d13008f1e63"),
    "Path_removal_patch.jpg": ("46f73d5c031de170172132c0c6be8777399b2bf0bfd3d53c31b8924b58fa55bc", "7342ce9f1d363abb35726aedd14ba2bb54eba7c75f0a1e198c4cd99c7ad36207e00a0149cc0ce258937ebff7df0f385d1c60f194e24f9d13008f1e63"),
    "Path_splice_hard.jpg": ("f406b86a811f045708af9ee77865eaecb73ccd95896d501702c31b765b1a922e", "7342ce9f1d363abb35726aecd159a2b354eba7c75f0a1e198c4cd99c7ad36207e00e0149cc0cee589f7ebff7e70f205d0460f196e24f9d13008f1e63"),
    "Path_splice_poisson.jpg": ("c40d3c8e2b51a76f798156d82bf5a570b3cfca95332784bd94f5bc8a88858e6d", "7342ce9f1d373abb35726aedd15b62b2d4eb27c75f0a1e198c4cd99c7ad36207e0080149cc0ce2589b7ebff7df8f301d0420f194e24f9d13008f1e63"),
    "Volna_authentic.jpg": ("32e3b82d1eafbea2c2f536c5e1e849cba0c5afd314b408e004d2b3526d21078e", "31c061804180c181838187830783070206060704060e0e0c1c063c067c0eef1fe79f978ff3c7f3e37be179f0bcf8fefc7e7e3e3f1fbf3f8f0fe707f3"),
    "Volna_copymove.jpg": ("6adaf3dddf4338c17742eec1f2e22f446119bcda715c488f175e9020d7ee9cc3", "31c061804180c181838187830783070206060744078e0f0c1e063c067c0eef1fe79f978ff3c7f3e37be179f0bcf8fefc7e7e3e3f1fbf278f07e707f3"),
    "Volna_recolour.jpg": ("fe0331dd8e7cdc7635bd9e9efff63635312e85f6cac4f499eb7a1a5d0a40995e", "31c061804180c181838187830783070306060706060c0e0c1c063c067c0eef1fe79f978ff3c7f3e37be179f0bcf8fefc7e7e3e3f1f9f3f8f0fe707f3"),
    "Volna_removal_line.jpg": ("ed9953d9d0bff7de1a525c36026d4755cf41700ee6227b697d2eeadb33442400", "31c061804180c181838187830783070206060704060e0e0c1c063c06780eef1fe79f978ff3c7f3e37be179f03cf8fefc7e7e3e3f1fbf3f8f0fe707f3"),
    "Volna_removal_patch.jpg": ("fbd8797a7d48b766c3ee82f8c09fb76c15377005e43bc5d82399b8eb556be651", "31c061804180c18183818783078307060606070c060e0e0c1c063c067c0eef1fe79f978ff3c7f3e37be179f0bdf8fcfc7efe3e3f1fbf3f8f0fe707f3"),
    "Volna_splice_hard.jpg": ("5cd1c0f0a9e1047d851553d0a0b721603b048ef5e78c98c19567f843d38026bc", "31c061804180c181838187830783070206060704060e0e0c1c063c067c0eef1fe79f978ff3c7f3e37be179f0bcf8fe8c7e7e3e3f1fbf3f8f0fe707f3"),
    "Volna_splice_poisson.jpg": ("1a8bf314aba027b2fe7234d9ca7e389d9d67db04c2514fc38f2b87230bd841c0", "31c061804180c381878186830983030206060704060e0e0c1c063c067c0eef1fe79fd78ff3e7f3f37be179c0bcf8fec47e7e3e3f1fbf3f8f0fe707f3"),
    "summer_1am_authentic.jpg": ("e6340280a76c7b816cdff0027011df4a1e0e319aeacda32b3a3d0f718c91101f", "fff9ffe3ffc7ff8fff1ffe3ff87ff0ffc1ff83fd47fc0ff95ffe3ffe7ffeffffffffffffffffffffffffffffffff00000000ffffffbf000700000000"),
    "summer_1am_copymove.jpg": ("5cee43ca65eaedc6781a022ce4b92d44d2f647df43d4d126ea931aa7f5b09e0a", "fff9ffe3ffc7ef8fdf1fbe3e787ff0ffc1ff83fd47fc0ff95ffe3ffe7ffefffffffffffffffffffff1fff1ffffff00000000ffffffff000700000000"),
    "summer_1am_recolour.jpg": ("2ed1ec665363507dead087a86578bcb7d0198bf5f1d08d2436f9681de22b3dec", "fff9ffe3ffc7ff8f7f1f7e3e787ef0ffc1ff83fd47fc0ff95ffe3ffe7ffefffffffffffffffffffffffffffff3ff00000000ffffffff000700000000"),
    "summer_1am_removal_line.jpg": ("8538207135cf770557cd1f3be6164c2e458aecb04be54103af8c30b0e8d02e7b", "fff9ffe3ffc7ff8fff1ffe3ff87ff0ffc1ff83fd47fc0ff95ffe3ffe7ffcffffffffffffffffffffffffffffffff00000000ffffffbf000700000000"),
    "summer_1am_removal_patch.jpg": ("244eafb7fcdc5c5d647d9947661462376ef9b5c6593874216ed840f26ea9473a", "fff9ffe3ffc7ff8fff1ffe3ff87ff0ffc1ff83fd47fc0ff95ffe3ffe7ffeffffffffffffffffffffffffffffffff00000000ffffffbf000700000000"),
    "summer_1am_splice_hard.jpg": ("3595fa1839dddb16d80da3400256441039d5caae39fbb4d98a89201e88488aaa", "fff9ffe3ffc7ff8fff1ffe3fb87e70fe61fcc3fd47fc0ff95ffe3ffe7ffeffffffffffffffffffffffffff3fff1f01c00040ffffffff000700000000"),
    "summer_1am_splice_poisson.jpg": ("0a4ea39b653907069d7209cb46ab78d4098a023ffc12fecd5b52c7673a3b42cc", "fff9ffe3ffc7ff8fff1ffe3ff87ff0ffc1ff83fd47fc0ff95ffe3ffe7ffeffffffffffffffffffffffffffffffff00000000ffffffff000700000000"),
}
EXTERNAL_V1_SHA256 = frozenset(sha for sha, _ in EXTERNAL_V1.values())


@dataclass
class Reserved:
    """The benchmark's hashes, each naming its file, and what has been compared to them in this process."""

    sha256: dict[str, str]  # SHA-256 -> file name
    phash: dict[int, str]  # perceptual hash (as an int, for XOR) -> file name
    # SHA-256 of a checked file -> its nearest benchmark image (distance, name), or None if undecodable:
    # a validator checks train and val of one data set, and each split more than once
    _nearest: dict[str, tuple[int, str] | None] = field(default_factory=dict, repr=False)

    def looks_like(self, path: Path, sha256: str) -> tuple[int, str] | None:
        """(distance, benchmark file name) when the image looks like a benchmark image, else None."""
        if sha256 not in self._nearest:
            self._nearest[sha256] = self._nearest_to(path)
        hit = self._nearest[sha256]
        return hit if hit is not None and hit[0] <= MATCH_DISTANCE else None

    def _nearest_to(self, path: Path) -> tuple[int, str] | None:
        try:
            seen = [int(h, 16) for h in perceptual_hash.variants(path)]
        except Exception:  # undecodable (Pillow raises many kinds): reported where the image is read
            return None
        return min(((v ^ h).bit_count(), name) for h, name in self.phash.items() for v in seen)


@lru_cache(maxsize=1)
def reserved() -> Reserved:
    """The shipped hashes, plus those of the benchmark folder's images that the table lacks."""
    sha = {s: name for name, (s, _) in EXTERNAL_V1.items()}
    phash: dict[int, str] = {}
    for name, (_, h) in EXTERNAL_V1.items():  # versions with one hash: the first name (often _authentic)
        phash.setdefault(int(h, 16), name)
    folder = BENCHMARK_DIR / "images"
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            try:
                if not p.is_file():
                    continue
                s = file_sha256(p)
            except OSError:  # an unreadable file there guards nothing; the shipped table still does
                continue
            if s in sha:  # in the table, perceptual hash and all: no need to decode it
                continue
            sha[s] = p.name
            try:
                phash.setdefault(int(perceptual_hash.image_hash(p), 16), p.name)
            except Exception:  # not a picture: its bytes are refused all the same
                continue
    return Reserved(sha, phash)


class ReservedImageError(DeclipError):
    """An image of the evaluation-only benchmark was offered as training data."""


def refuse_reserved(paths_and_hashes: Iterable[tuple[Path, str]], where: str) -> None:
    """Refuse in one line when any (path, sha256) is one of the benchmark's images byte for byte, else when
    any looks like one; `where` names the folder or split they came from."""
    res = reserved()
    items = list(paths_and_hashes)
    exact = [(p, res.sha256[s]) for p, s in items if s in res.sha256]
    if exact:
        path, name = exact[0]
        raise ReservedImageError(f"{where}: {len(exact)} image(s) are byte for byte images of {BENCHMARK}, which is "
                                 f"for evaluation only (first: {path}, which is {name}); remove them from the "
                                 "training data")
    alike = [(p, hit) for p, s in items if (hit := res.looks_like(p, s))]
    if alike:
        path, (dist, name) = alike[0]
        raise ReservedImageError(f"{where}: {len(alike)} image(s) look like images of {BENCHMARK}, which is for "
                                 f"evaluation only (first: {path} looks like {name}: their perceptual hashes differ in "
                                 f"{dist} of {perceptual_hash.BITS} bits, at most {MATCH_DISTANCE} is a re-encoded, "
                                 "resized or edited copy); remove them from the training data")
