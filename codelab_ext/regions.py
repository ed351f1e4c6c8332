"""The regions ModelArts runs in and the endpoints of each: data, kept equal to the official SDK's tables.

``tests/test_regions.py`` proves :data:`MODELARTS_ENDPOINTS` equal to
``huaweicloudsdkmodelarts/v1/region/modelarts_region.py`` (``ModelArtsRegion.static_fields``) and
:data:`IAM_ENDPOINTS` equal to ``huaweicloudsdkcore/auth/endpoint.py`` (the IAM table), so a change
in a new SDK release shows up as a failing test. How the SDK picks an IAM endpoint
(``huaweicloudsdkcore/auth/internal.py``, ``IamHelper.get_iam_endpoint``; the profile's
``iam_endpoint`` in ``huaweicloudsdkcore/auth/provider.py``) is followed by :func:`default_iam_endpoint`
and by :meth:`codelab_ext.config.CodeLab.endpoints_for`.

A region outside :data:`MODELARTS_ENDPOINTS` is refused (HTTP 400 naming the known regions) unless it
is the one the server is configured for (``c.CodeLab.region``): :func:`check_region`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from .errors import ValidationError
from .i18n import tr

__all__ = [
    "DEFAULT_IAM_ENDPOINT",
    "ENV_IAM_ENDPOINT",
    "IAM_ENDPOINTS",
    "KNOWN_REGIONS",
    "MODELARTS_ENDPOINTS",
    "check_region",
    "default_iam_endpoint",
    "default_modelarts_endpoint",
    "known_regions",
]

#: ModelArts endpoint of every region the SDK knows (``ModelArtsRegion.static_fields``, same order).
#: ap-southeast-1 is the one region under ``.myhuaweicloud.cn``.
MODELARTS_ENDPOINTS: Mapping[str, str] = {
    "cn-north-1": "https://modelarts.cn-north-1.myhuaweicloud.com",
    "cn-north-4": "https://modelarts.cn-north-4.myhuaweicloud.com",
    "cn-south-1": "https://modelarts.cn-south-1.myhuaweicloud.com",
    "ap-southeast-1": "https://modelarts.ap-southeast-1.myhuaweicloud.cn",
    "ap-southeast-2": "https://modelarts.ap-southeast-2.myhuaweicloud.com",
    "ap-southeast-3": "https://modelarts.ap-southeast-3.myhuaweicloud.com",
    "cn-east-3": "https://modelarts.cn-east-3.myhuaweicloud.com",
    "cn-east-4": "https://modelarts.cn-east-4.myhuaweicloud.com",
    "la-south-2": "https://modelarts.la-south-2.myhuaweicloud.com",
    "af-south-1": "https://modelarts.af-south-1.myhuaweicloud.com",
    "cn-north-9": "https://modelarts.cn-north-9.myhuaweicloud.com",
    "tr-west-1": "https://modelarts.tr-west-1.myhuaweicloud.com",
    "ap-southeast-4": "https://modelarts.ap-southeast-4.myhuaweicloud.com",
    "me-east-1": "https://modelarts.me-east-1.myhuaweicloud.com",
    "cn-southwest-2": "https://modelarts.cn-southwest-2.myhuaweicloud.com",
    "cn-north-2": "https://modelarts.cn-north-2.myhuaweicloud.com",
    "sa-brazil-1": "https://modelarts.sa-brazil-1.myhuaweicloud.com",
    "la-north-2": "https://modelarts.la-north-2.myhuaweicloud.com",
    "af-north-1": "https://modelarts.af-north-1.myhuaweicloud.com",
    "cn-north-12": "https://modelarts.cn-north-12.myhuaweicloud.com",
    "cn-southwest-3": "https://modelarts.cn-southwest-3.myhuaweicloud.com",
    "cn-north-11": "https://modelarts.cn-north-11.myhuaweicloud.com",
}

#: Regional IAM endpoints of the SDK's table (``huaweicloudsdkcore/auth/endpoint.py``). Every one is
#: under ``.myhuaweicloud.com``, ap-southeast-1 included. A region missing here (af-north-1,
#: cn-southwest-3, cn-north-11 among the ModelArts ones) uses :data:`DEFAULT_IAM_ENDPOINT`.
IAM_ENDPOINTS: Mapping[str, str] = {
    "cn-north-2": "https://iam.cn-north-2.myhuaweicloud.com",
    "cn-north-4": "https://iam.cn-north-4.myhuaweicloud.com",
    "cn-north-1": "https://iam.cn-north-1.myhuaweicloud.com",
    "cn-east-2": "https://iam.cn-east-2.myhuaweicloud.com",
    "cn-east-3": "https://iam.cn-east-3.myhuaweicloud.com",
    "cn-south-1": "https://iam.cn-south-1.myhuaweicloud.com",
    "cn-south-2": "https://iam.cn-south-2.myhuaweicloud.com",
    "cn-southwest-2": "https://iam.cn-southwest-2.myhuaweicloud.com",
    "ap-southeast-1": "https://iam.ap-southeast-1.myhuaweicloud.com",
    "ap-southeast-2": "https://iam.ap-southeast-2.myhuaweicloud.com",
    "ap-southeast-3": "https://iam.ap-southeast-3.myhuaweicloud.com",
    "af-south-1": "https://iam.af-south-1.myhuaweicloud.com",
    "sa-brazil-1": "https://iam.sa-brazil-1.myhuaweicloud.com",
    "la-south-2": "https://iam.la-south-2.myhuaweicloud.com",
    "na-mexico-1": "https://iam.na-mexico-1.myhuaweicloud.com",
    "la-north-2": "https://iam.la-north-2.myhuaweicloud.com",
    "cn-north-9": "https://iam.cn-north-9.myhuaweicloud.com",
    "eu-west-0": "https://iam.eu-west-0.myhuaweicloud.com",
    "my-kualalumpur-1": "https://iam.my-kualalumpur-1.myhuaweicloud.com",
    "ru-moscow-1": "https://iam.ru-moscow-1.myhuaweicloud.com",
    "me-east-1": "https://iam.me-east-1.myhuaweicloud.com",
    "ap-southeast-4": "https://iam.ap-southeast-4.myhuaweicloud.com",
    "ae-ad-1": "https://iam.ae-ad-1.myhuaweicloud.com",
    "cn-east-4": "https://iam.cn-east-4.myhuaweicloud.com",
    "cn-east-5": "https://iam.cn-east-5.myhuaweicloud.com",
    "tr-west-1": "https://iam.tr-west-1.myhuaweicloud.com",
    "cn-north-12": "https://iam.cn-north-12.myhuaweicloud.com",
}

#: the global IAM endpoint, for a region without a regional one (``IamHelper.DEFAULT_ENDPOINT``)
DEFAULT_IAM_ENDPOINT = "https://iam.myhuaweicloud.com"
#: overrides the IAM table for every region, as in the SDK (``IamHelper.IAM_ENDPOINT_ENV_NAME``)
ENV_IAM_ENDPOINT = "HUAWEICLOUD_SDK_IAM_ENDPOINT"

#: the ModelArts regions, sorted
KNOWN_REGIONS: tuple[str, ...] = tuple(sorted(MODELARTS_ENDPOINTS))


def default_modelarts_endpoint(region: str) -> str:
    """The ModelArts endpoint of ``region``: the table's, else ``https://modelarts.{region}.myhuaweicloud.com``."""
    return MODELARTS_ENDPOINTS.get(region) or f"https://modelarts.{region}.myhuaweicloud.com"


def default_iam_endpoint(region: str, environ: Mapping[str, str] | None = None) -> str:
    """The IAM endpoint the SDK would use for ``region``.

    ``HUAWEICLOUD_SDK_IAM_ENDPOINT`` when set, else the region's entry of :data:`IAM_ENDPOINTS`, else
    the global :data:`DEFAULT_IAM_ENDPOINT` (``IamHelper.get_iam_endpoint``).
    """
    env = (os.environ if environ is None else environ).get(ENV_IAM_ENDPOINT, "").strip()
    if env:
        return env.rstrip("/")
    return IAM_ENDPOINTS.get(region, DEFAULT_IAM_ENDPOINT)


def known_regions(extra: Iterable[str | None] = ()) -> list[str]:
    """The known ModelArts regions plus ``extra`` (e.g. the configured region), sorted, no duplicates."""
    return sorted({*KNOWN_REGIONS, *(region for region in extra if region)})


def check_region(region: str, *, configured: str | None = None, field: str = "region") -> str:
    """``region`` when ModelArts is known to run there (or it is the ``configured`` one), else
    :class:`~codelab_ext.errors.ValidationError` (HTTP 400) naming the known regions."""
    if region in MODELARTS_ENDPOINTS or (configured and region == configured):
        return region
    raise ValidationError(
        tr(
            "Unknown region {region!r}: ModelArts runs in {items}.",
            region=region,
            items=", ".join(known_regions([configured])),
        ),
        field=field,
    )
