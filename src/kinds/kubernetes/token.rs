//! The EKS bearer token, made in-process as `aws eks get-token` makes it: an STS
//! `GetCallerIdentity` URL presigned for 60 seconds with the header `x-k8s-aws-id` (the
//! cluster's name) signed, base64url-encoded after `k8s-aws-v1.`. EKS's authenticator
//! calls that URL to learn who is asking; the access entries say what they may do.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::engine::CloudError;

const PREFIX: &str = "k8s-aws-v1.";

/// Query values as SigV4 encodes them: everything but RFC 3986's unreserved characters.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY).to_string()
}

/// A token for `cluster`, signed with `identity` (the SDK's credentials) in `region`.
pub fn token(
    identity: &Identity,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<String, CloudError> {
    let failed = |e: &dyn std::fmt::Display| CloudError::new("eks:token", e.to_string());
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params: aws_sigv4::http_request::SigningParams = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let url =
        format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        [("x-k8s-aws-id", cluster)].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| failed(&e))?;
    let (instructions, _) = sign(request, &params).map_err(|e| failed(&e))?.into_parts();
    let (_, query) = instructions.into_parts();
    let mut signed = url;
    for (k, v) in query {
        signed.push('&');
        signed.push_str(&escape(k));
        signed.push('=');
        signed.push_str(&escape(&v));
    }
    use base64::Engine;
    Ok(format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed.as_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    #[test]
    fn the_token_is_a_presigned_get_caller_identity_naming_the_cluster() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("session".into()),
            None,
            "test",
        );
        let identity = Identity::from(creds);
        let t = token(
            &identity,
            "eu-west-3",
            "app-web",
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        )
        .expect("token");
        let body = t.strip_prefix(PREFIX).expect("prefix");
        assert!(!body.contains('='));
        use base64::Engine;
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map(|b| String::from_utf8(b).expect("ascii"))
            .expect("base64url");
        assert!(
            decoded.starts_with(
                "https://sts.eu-west-3.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
            ),
            "{decoded}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Expires=60",
            "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
            "X-Amz-Security-Token=session",
            "X-Amz-Signature=",
            "X-Amz-Date=20261118T110640Z",
        ] {
            assert!(decoded.contains(part), "{part} missing in {decoded}");
        }
        assert!(
            !decoded.contains("secret"),
            "the secret key is never in the token"
        );
    }
}
