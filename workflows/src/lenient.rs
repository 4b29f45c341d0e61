//! Signal payloads decoded without trusting the sender.
//!
//! Anyone who can reach Temporal can signal an auction (`temporal workflow
//! signal …` from an operator's terminal, a script, a typo). If a signal's
//! input type were a plain struct, a payload that does not decode would fail
//! every workflow task from then on and wedge the auction. [`Lenient<T>`]
//! always decodes: it holds either the value or why the payload was not one,
//! and the handler counts and logs the refusal instead of failing.

use serde::{Serialize, de::DeserializeOwned};
use temporalio_common::{
    data_converters::{
        PayloadConversionError, SerializationContext, TemporalDeserializable, TemporalSerializable,
    },
    protos::{ENCODING_PAYLOAD_KEY, JSON_ENCODING_VAL, temporal::api::common::v1::Payload},
};

/// A message of type `T`, or the reason its payload was not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lenient<T>(Result<T, String>);

impl<T> Lenient<T> {
    /// A well-formed message (what senders in this codebase send).
    pub fn new(value: T) -> Self {
        Self(Ok(value))
    }

    /// The value, or why the payload did not decode into one.
    pub fn into_result(self) -> Result<T, String> {
        self.0
    }
}

impl<T> From<T> for Lenient<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: DeserializeOwned> Lenient<T> {
    /// Decodes what a sender put in the signal: exactly one JSON payload.
    fn decode(payloads: &[Payload]) -> Self {
        let payload = match payloads {
            [] => return Self(Err("the signal has no input".into())),
            [one] => one,
            many => {
                return Self(Err(format!(
                    "the signal has {} inputs, expected one",
                    many.len()
                )));
            }
        };
        let encoding = payload
            .metadata
            .get(ENCODING_PAYLOAD_KEY)
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .unwrap_or_default();
        if encoding != JSON_ENCODING_VAL {
            return Self(Err(format!(
                "the input is not JSON (encoding {encoding:?})"
            )));
        }
        Self(
            serde_json::from_slice(&payload.data)
                .map_err(|e| format!("the input is malformed: {e}")),
        )
    }
}

impl<T: Serialize> TemporalSerializable for Lenient<T> {
    fn to_payload(&self, _: &SerializationContext<'_>) -> Result<Payload, PayloadConversionError> {
        let value = self
            .0
            .as_ref()
            .map_err(|_| PayloadConversionError::WrongEncoding)?;
        let data = serde_json::to_vec(value)
            .map_err(|e| PayloadConversionError::EncodingError(Box::new(e)))?;
        Ok(Payload {
            metadata: [(
                ENCODING_PAYLOAD_KEY.to_owned(),
                JSON_ENCODING_VAL.as_bytes().to_vec(),
            )]
            .into(),
            data,
            external_payloads: Vec::new(),
        })
    }
}

impl<T: DeserializeOwned> TemporalDeserializable for Lenient<T> {
    fn from_payload(
        _: &SerializationContext<'_>,
        payload: Payload,
    ) -> Result<Self, PayloadConversionError> {
        Ok(Self::decode(&[payload]))
    }

    fn from_payloads(
        _: &SerializationContext<'_>,
        payloads: Vec<Payload>,
    ) -> Result<Self, PayloadConversionError> {
        Ok(Self::decode(&payloads))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Bid {
        amount: i64,
        key: String,
    }

    fn json(data: &[u8]) -> Payload {
        Payload {
            metadata: [(
                ENCODING_PAYLOAD_KEY.to_owned(),
                JSON_ENCODING_VAL.as_bytes().to_vec(),
            )]
            .into(),
            data: data.to_vec(),
            external_payloads: Vec::new(),
        }
    }

    #[test]
    fn well_formed_input_decodes() {
        let decoded = Lenient::<Bid>::decode(&[json(br#"{"amount":5,"key":"k"}"#)]);
        assert_eq!(
            decoded.into_result(),
            Ok(Bid {
                amount: 5,
                key: "k".into()
            })
        );
    }

    #[test]
    fn anything_else_is_a_reason_not_a_failure() {
        let binary = Payload {
            metadata: [(ENCODING_PAYLOAD_KEY.to_owned(), b"binary/plain".to_vec())].into(),
            data: vec![0xff, 0x00],
            external_payloads: Vec::new(),
        };
        for (payloads, says) in [
            (vec![], "no input"),
            (vec![json(br#"{"amount":5}"#)], "missing field `key`"),
            (vec![json(br#"{"amount":"5","key":"k"}"#)], "invalid type"),
            (vec![json(b"\xff garbage")], "malformed"),
            (vec![binary], "not JSON"),
            (vec![json(b"1"), json(b"2")], "2 inputs"),
        ] {
            let reason = Lenient::<Bid>::decode(&payloads).into_result().unwrap_err();
            assert!(reason.contains(says), "{reason}");
        }
    }
}
