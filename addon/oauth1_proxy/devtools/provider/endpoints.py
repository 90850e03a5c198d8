"""oauthlib's server endpoints, with the reason for each refusal noted on the validator."""

from __future__ import annotations

import base64
import hmac
import time
from typing import Any
from urllib.parse import urlsplit

from oauthlib.oauth1 import (
    AccessTokenEndpoint,
    OAuth1Error,
    RequestTokenEndpoint,
    ResourceEndpoint,
    SignatureOnlyEndpoint,
)
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils
from oauthlib.oauth1.rfc5849.endpoints.base import BaseEndpoint
from oauthlib.oauth1.rfc5849.errors import InvalidRequestError

from oauth1_proxy.devtools.provider.validator import ProviderValidator, problem_for_error

LEGACY_KEY_HASHES = {"HMAC-SHA1": "sha1", "HMAC-SHA256": "sha256", "HMAC-SHA512": "sha512"}


class _DiagnosingEndpoint(BaseEndpoint):  # type: ignore[misc]
    """Note, before re-raising, the errors oauthlib's endpoints raise and then swallow."""

    request_validator: ProviderValidator

    # Interpretation: ResourceEndpoint and SignatureOnlyEndpoint answer only
    # "False" for a malformed request; these two hooks of BaseEndpoint are where
    # the reason is known. Overriding them changes no verification result.
    def _create_request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super()._create_request(*args, **kwargs)
        except OAuth1Error as e:
            self.request_validator.note(*problem_for_error(e))
            raise

    def _check_signature(self, oauth_request: Any, is_token_request: bool = False) -> bool:
        method = oauth_request.signature_method
        legacy = self.request_validator.legacy_key and not oauth_request.resource_owner_key
        if not (legacy and method in LEGACY_KEY_HASHES):
            return bool(super()._check_signature(oauth_request, is_token_request))
        # WooCommerce's legacy variant: the key is the encoded consumer secret
        # with no "&" (RFC 5849 §3.4.2 always has it). oauthlib builds the base
        # string; only the key differs.
        base_string = oauth_signature.signature_base_string(
            oauth_request.http_method, oauth_signature.base_string_uri(oauth_request.uri),
            oauth_signature.normalize_parameters(oauth_signature.collect_parameters(
                uri_query=urlsplit(oauth_request.uri).query, body=oauth_request.body,
                headers=oauth_request.headers, exclude_oauth_signature=True)),
        )
        secret = self.request_validator.get_client_secret(oauth_request.client_key, oauth_request)
        key = oauth_utils.escape(secret or "").encode()
        expected = base64.b64encode(hmac.digest(key, base_string.encode(), LEGACY_KEY_HASHES[method])).decode()
        return hmac.compare_digest(expected, oauth_request.signature)

    def _check_mandatory_parameters(self, oauth_request: Any) -> None:
        offset = self.request_validator.clock_offset
        if offset and oauth_request.timestamp and str(oauth_request.timestamp).isdigit():
            # oauthlib compares with time.time(); a provider with a skewed clock
            # compares with its own clock, then lets oauthlib check the rest.
            provider_now = time.time() + offset
            if abs(provider_now - int(oauth_request.timestamp)) >= self.request_validator.timestamp_lifetime:
                error = InvalidRequestError(description="Timestamp given is invalid, differ from allowed by over "
                                            f"{self.request_validator.timestamp_lifetime} seconds.")
                self.request_validator.note(*problem_for_error(error))
                raise error
            oauth_request.timestamp = str(int(time.time()))
        try:
            super()._check_mandatory_parameters(oauth_request)
        except OAuth1Error as e:
            self.request_validator.note(*problem_for_error(e))
            raise


class DiagnosingRequestTokenEndpoint(_DiagnosingEndpoint, RequestTokenEndpoint):  # type: ignore[misc]
    def validate_request_token_request(self, oauth_request: Any) -> Any:
        try:
            return super().validate_request_token_request(oauth_request)
        except OAuth1Error as e:
            self.request_validator.note(*problem_for_error(e))
            raise


class DiagnosingAccessTokenEndpoint(_DiagnosingEndpoint, AccessTokenEndpoint):  # type: ignore[misc]
    def validate_access_token_request(self, oauth_request: Any) -> Any:
        try:
            return super().validate_access_token_request(oauth_request)
        except OAuth1Error as e:
            self.request_validator.note(*problem_for_error(e))
            raise


class DiagnosingResourceEndpoint(_DiagnosingEndpoint, ResourceEndpoint):  # type: ignore[misc]
    pass


class DiagnosingSignatureOnlyEndpoint(_DiagnosingEndpoint, SignatureOnlyEndpoint):  # type: ignore[misc]
    pass
