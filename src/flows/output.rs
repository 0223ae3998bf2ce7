//! `output`: what a user wants of the deployed stack (addresses, endpoints), read from
//! AWS; one of them alone, raw, for scripts.

use super::{Error, Outcome, Refusal, Session};

pub async fn output(s: &Session, name: Option<&str>) -> Result<Outcome, Error> {
    let observed = s.registry.discover_all().await?;
    let outputs = s.outputs(&observed);
    if let Some(n) = name {
        if !outputs.iter().any(|o| o.name == n) {
            return Err(Refusal::NoSuchOutput {
                name: n.to_string(),
                known: outputs.iter().map(|o| o.name.clone()).collect(),
            }
            .into());
        }
    }
    Ok(Outcome::Outputs {
        outputs,
        only: name.map(str::to_string),
    })
}
