"""The `static-site` kind: a CloudFront distribution serving `s3://<bucket>/<app>/<commit>/`.

Each commit's build is uploaded beside the others, so releasing (or rolling back) is switching the
origin path of the same distribution: an in-place update, no copy, no half-uploaded site served.
CloudFront reads the bucket through an Origin Access Control, at its regional endpoint, so the bucket
itself stays private; a missing page (S3's 403 there, or 404) answers the site's error page with 404.
Every switch then invalidates the cache (components/cdn_invalidation.py), once the distribution
runs the new origin, so the edges stop serving the old site.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from deployctl.components.base import AppComponent
from deployctl.components.cdn_invalidation import CacheInvalidation
from deployctl.components.spec import AppSpec
from deployctl.core.kinds.artifactnames import site_folder
from deployctl.core.kinds.awsnames import distribution_comment, origin_access_control_name
from deployctl.core.repo.catalog import StaticSiteSettings

# AWS managed cache policy "CachingOptimized".
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ORIGIN_ID = "site"


def viewer_certificate(settings: StaticSiteSettings) -> aws.cloudfront.DistributionViewerCertificateArgs:
    """Custom domains need their ACM certificate; without one, the *.cloudfront.net certificate serves."""
    if settings.certificate_arn:
        return aws.cloudfront.DistributionViewerCertificateArgs(
            acm_certificate_arn=settings.certificate_arn,
            ssl_support_method="sni-only",
            minimum_protocol_version="TLSv1.2_2021",
        )
    return aws.cloudfront.DistributionViewerCertificateArgs(cloudfront_default_certificate=True)


def custom_error_responses(settings: StaticSiteSettings) -> list[aws.cloudfront.DistributionCustomErrorResponseArgs]:
    """A missing page is S3's 403 behind origin access control (it may not list the bucket), or its 404:
    both answer the site's error page with 404, never an S3 AccessDenied document."""
    if not settings.error_page:
        return []
    return [aws.cloudfront.DistributionCustomErrorResponseArgs(
        error_code=code, response_code=404, response_page_path=settings.error_page,
        error_caching_min_ttl=settings.error_caching_seconds) for code in (403, 404)]


class StaticSiteApp(AppComponent[StaticSiteSettings]):
    """A static site behind CloudFront; `version` is the commit, which is the origin path."""

    type_name = "deploys:apps:StaticSiteApp"
    settings_type = StaticSiteSettings

    def __init__(self, name: str, spec: AppSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, spec, opts)
        settings = self.settings
        child = pulumi.ResourceOptions(parent=self)
        origin_path = self.origin_path = "/" + site_folder(spec.app, spec.commit)

        self.origin_access_control = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            name=origin_access_control_name(spec.env, spec.app),
            description=f"CloudFront access to s3://{settings.bucket}/{spec.app}/ for {spec.env}",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        # The regional endpoint, as AWS advises with origin access control (the global one redirects
        # while a new bucket's DNS propagates, and signs for us-east-1).
        bucket = aws.s3.get_bucket_output(bucket=settings.bucket)
        self.distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment=distribution_comment(spec.env, spec.app, spec.commit),
            aliases=settings.aliases or None,
            price_class=settings.price_class,
            default_root_object=settings.default_root_object,
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=ORIGIN_ID,
                    domain_name=bucket.bucket_regional_domain_name,
                    origin_path=origin_path,
                    origin_access_control_id=self.origin_access_control.id,
                )
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=ORIGIN_ID,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD", "OPTIONS"],
                cached_methods=["GET", "HEAD"],
                cache_policy_id=CACHING_OPTIMIZED,
                compress=True,
            ),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(restriction_type="none"),
            ),
            viewer_certificate=viewer_certificate(settings),
            custom_error_responses=custom_error_responses(settings) or None,
            opts=child,
        )
        self.invalidation = CacheInvalidation(
            f"{name}-invalidation", distribution_id=self.distribution.id, origin_path=origin_path,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.distribution]),
        )
        self.running = self.invalidation.invalidation_id.apply(lambda _: spec.commit)
        self.register_outputs(
            {"version": spec.commit, "domain_name": self.distribution.domain_name, "id": self.distribution.id}
        )

    def health_target(self) -> dict[str, Any]:
        return {"url": self.distribution.domain_name.apply(lambda d: f"https://{d}/"),
                "distribution": self.distribution.id, "origin_path": self.origin_path}  # what must be served
