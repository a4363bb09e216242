//! Python DeltaGlider's format: `reference.bin` stored whole, deltas straight against its bytes.

use dg_ports::{Error, ObjectInfo, PutMode, PutOptions, Result};
use tracing::{info, warn};

use crate::meta::{self, field, NOTE_REFERENCE, NOTE_ZERO_DIFF};
use crate::put::{Created, PutOutcome, PutRequest, Stored, Upload};
use crate::reference::LoadedRef;
use crate::service::{DeltaGlider, Format};

impl DeltaGlider {
    /// Stores the file whole as `reference.bin` (create-only), plus its zero-diff delta.
    pub(crate) async fn create_compat_reference(
        &self,
        up: &mut Upload,
        request: &PutRequest,
    ) -> Result<Created> {
        let choice = match self
            .engines()
            .choose(request.engine.as_deref(), up.size, up.size)
        {
            Ok(c) => c,
            Err(e) => {
                let outcome = self.put_direct(up, format!("{e}")).await?;
                return Ok(Created::Done(Box::new(outcome)));
            }
        };
        up.notes.extend(choice.passed_over.iter().cloned());
        let ref_loc = up.space.reference();
        let metadata = meta::build([
            (field::TOOL, self.config().tool.clone()),
            (field::SOURCE_NAME, up.name.clone()),
            (field::FILE_SHA256, up.sha256.clone()),
            (field::CREATED_AT, self.now_iso()),
            (field::NOTE, NOTE_REFERENCE.to_string()),
        ]);
        let put = self
            .storage()
            .put(
                &ref_loc,
                up.source.clone(),
                PutOptions {
                    metadata,
                    mode: PutMode::Create,
                },
            )
            .await;
        match put {
            Ok(()) => {}
            Err(Error::AlreadyExists { .. }) => return Ok(Created::LostRace),
            Err(e) => return Err(e),
        }
        info!(reference = %ref_loc, "created reference");
        let reference = LoadedRef {
            blob: up.source.clone(),
            sha256: up.sha256.clone(),
        };
        let delta = self
            .encode_checked(
                &choice.engine,
                reference.blob.clone(),
                up.source.clone(),
                &up.sha256,
                u64::MAX,
                &up.dest,
            )
            .await?
            .ok_or_else(|| Error::invalid("zero-diff delta", "exceeded an unlimited budget"))?;
        let mut metadata = self.delta_metadata(
            up,
            &reference.sha256,
            delta.len(),
            choice.engine.name(),
            command(choice.engine.command_hint(), &up.name),
        );
        metadata.insert(field::NOTE.to_string(), NOTE_ZERO_DIFF.to_string());
        let stored = Stored::Delta {
            engine: choice.engine.name(),
            created_reference: true,
            format: Format::Compat,
        };
        let mut outcome = self.write_delta(up, delta, metadata, stored).await?;
        outcome.reference_size = Some(up.size);
        Ok(Created::Done(Box::new(outcome)))
    }

    /// Stores the file as a delta against the whole `reference.bin`, or whole when smaller.
    pub(crate) async fn put_compat_delta(
        &self,
        mut up: Upload,
        reference_info: &ObjectInfo,
        request: &PutRequest,
    ) -> Result<PutOutcome> {
        let recorded =
            meta::get(&reference_info.metadata, field::FILE_SHA256).map(str::to_ascii_lowercase);
        let reference = self
            .load_reference(&reference_info.location, recorded.as_deref())
            .await?;
        let choice =
            match self
                .engines()
                .choose(request.engine.as_deref(), reference.blob.len(), up.size)
            {
                Ok(c) => c,
                Err(e) => return self.put_direct(&up, format!("{e}")).await,
            };
        for note in &choice.passed_over {
            warn!(file = %up.dest, "engine passed over: {note}");
        }
        up.notes.extend(choice.passed_over.iter().cloned());
        let budget = self.delta_budget(&up, request, 0);
        let Some(delta) = self
            .encode_checked(
                &choice.engine,
                reference.blob.clone(),
                up.source.clone(),
                &up.sha256,
                budget,
                &up.dest,
            )
            .await?
        else {
            return self.put_direct(&up, self.over_ratio_reason(request)).await;
        };
        let mut metadata = self.delta_metadata(
            &up,
            &reference.sha256,
            delta.len(),
            choice.engine.name(),
            command(choice.engine.command_hint(), &up.name),
        );
        if reference.sha256 == up.sha256 {
            metadata.insert(field::NOTE.to_string(), NOTE_ZERO_DIFF.to_string());
        }
        let stored = Stored::Delta {
            engine: choice.engine.name(),
            created_reference: false,
            format: Format::Compat,
        };
        self.write_delta(&up, delta, metadata, stored).await
    }
}

/// The informational command line recorded as `dg-delta-cmd`.
pub(crate) fn command(hint: &str, name: &str) -> String {
    hint.replace("{name}", name)
}
