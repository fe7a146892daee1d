//! The visitor resources outside a chat: `Settings`, `Availability`, `VisitorId`, `Breadcrumb`.

use super::Server;
use super::encoding::*;
use super::routing::*;
use crate::sim::VisitorEvent;
use crate::sim::conformance::codes;
use crate::wire::{self, Message, header};
use http::Request;

impl Server {
    pub(super) fn org_and_deployment(query: &Query<'_>) -> Result<(), Answer> {
        for name in ["org_id", "deployment_id"] {
            if param(query, name).is_none_or(|v| v.trim().is_empty()) {
                return Err(Answer::text(400, &format!("Missing {name}")));
            }
        }
        Ok(())
    }

    pub(super) fn wrapped(&self, kind: &str, payload: serde_json::Value) -> serde_json::Value {
        if self.config.wrap_visitor_answers {
            serde_json::json!({"messages": [{"type": kind, "message": payload}]})
        } else {
            payload
        }
    }

    pub(super) fn settings(&mut self, query: &Query<'_>) -> Answer {
        if let Err(a) = Self::org_and_deployment(query) {
            return a;
        }
        let ids = list(param(query, "Settings.buttonIds").unwrap_or_default());
        let wait = param(query, "Settings.needEstimatedWaitTime") == Some("1");
        let buttons: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| {
                let mut b = serde_json::json!({"id": id, "type": "Standard", "language": "en"});
                if let Some(o) = b.as_object_mut() {
                    if self.config.available {
                        o.insert("isAvailable".into(), true.into());
                    }
                    if wait {
                        o.insert("estimatedWaitTime".into(), (-1).into());
                    }
                }
                b
            })
            .collect();
        let payload = serde_json::json!({
            "pingRate": 50000,
            "contentServerUrl": format!("{}://{}/content", self.config.scheme, self.config.host),
            "buttons": buttons,
        });
        let v = self.wrapped("Settings", payload);
        Answer::json_of(
            &v,
            format!("Settings ({} buttons)", ids.len()),
            self.config.dialect.numbers,
            0,
        )
    }

    pub(super) fn availability(&mut self, query: &Query<'_>) -> Answer {
        if let Err(a) = Self::org_and_deployment(query) {
            return a;
        }
        let ids = list(param(query, "Availability.ids").unwrap_or_default());
        let wait = param(query, "Availability.needEstimatedWaitTime") == Some("1");
        let results: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| {
                let mut r = serde_json::json!({"id": id});
                if let Some(o) = r.as_object_mut() {
                    // isAvailable is omitted when false, as the real server does.
                    if self.config.available {
                        o.insert("isAvailable".into(), true.into());
                    }
                    if wait {
                        o.insert("estimatedWaitTime".into(), (-1).into());
                    }
                }
                r
            })
            .collect();
        let v = self.wrapped("Availability", serde_json::json!({ "results": results }));
        Answer::json_of(
            &v,
            format!(
                "Availability ({} ids, {})",
                ids.len(),
                if self.config.available {
                    "available"
                } else {
                    "unavailable"
                }
            ),
            self.config.dialect.numbers,
            0,
        )
    }

    pub(super) fn visitor_id(&mut self, query: &Query<'_>) -> Answer {
        if let Err(a) = Self::org_and_deployment(query) {
            return a;
        }
        let id = self.rng.uuid();
        let v = self.wrapped("VisitorId", serde_json::json!({ "sessionId": id }));
        Answer::json_of(&v, "VisitorId".into(), self.config.dialect.numbers, 0)
    }

    pub(super) fn breadcrumb<B>(&mut self, req: &Request<B>, ctx: &mut Ctx, body: &[u8]) -> Answer {
        let location = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => match v.get("location").and_then(|l| l.as_str()) {
                Some(l) => Ok(l.to_owned()),
                None => Err("Bad request body: missing `location`".to_owned()),
            },
            Err(e) => Err(format!("Bad request body: {e}")),
        };
        let location = match location {
            Ok(l) => l,
            Err(text) => {
                let what = format!("Breadcrumb: {text} (refused 400)");
                self.refusal(req, ctx, codes::MALFORMED_BODY, "§3.5.4", what);
                return Answer::text(400, &text);
            }
        };
        if req.headers().contains_key(header::SESSION_KEY) {
            let si = match self.gate(req, ctx, None, Kind::Post, Affinity::Token) {
                Ok(si) => si,
                Err(a) => return a,
            };
            if let Some(s) = self.sessions.get_mut(si) {
                s.rec.visitor_events.push(VisitorEvent::Breadcrumb {
                    location: location.clone(),
                });
            }
            let m = Message::NewVisitorBreadcrumb(wire::Breadcrumb {
                location: location.clone(),
            });
            self.emit(si, m, ctx.now);
        }
        Answer::empty(200, format!("Breadcrumb {}", quote(&location)))
    }
}
