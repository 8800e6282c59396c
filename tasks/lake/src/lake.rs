//! The lake bucket: S3 access, manifests, and atomic publication of partitions.

use std::path::Path;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use chrono::NaiveDate;

use crate::cli::LakeArgs;
use crate::error::{LakeError, Result};
use crate::manifest::Manifest;
use crate::partition::{DatasetId, Partition};
use crate::shard::{Shard, Staging};

#[derive(Clone)]
pub struct Lake {
    s3: Client,
    bucket: String,
    orphan_grace: std::time::Duration,
    memory_limit: Option<u64>,
    /// A shard of a split day: its sharded datasets' manifests are staged, not published.
    staging: Option<Staging>,
}

fn s3_err<
    'k,
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
>(
    op: &'static str,
    key: &'k str,
) -> impl FnOnce(aws_sdk_s3::error::SdkError<E, R>) -> LakeError + 'k {
    move |e| LakeError::S3 {
        op,
        key: key.to_string(),
        message: match e.as_service_error() {
            Some(se) => format!(
                "{}: {}",
                aws_sdk_s3::error::ProvideErrorMetadata::code(se).unwrap_or("error"),
                aws_sdk_s3::error::ProvideErrorMetadata::message(se).unwrap_or_default()
            ),
            None => DisplayErrorContext(&e).to_string(),
        },
    }
}

impl Lake {
    /// A client for the lake bucket; path-style addressing when an endpoint override is set
    /// (local S3-compatible servers don't do virtual-host buckets).
    pub async fn connect(args: &LakeArgs) -> Result<Self> {
        let shared = crate::dynamo::aws_config(args).await;
        let conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(args.aws_endpoint_url.is_some())
            .build();
        let lake = Self {
            s3: Client::from_conf(conf),
            bucket: args.bucket.clone(),
            orphan_grace: std::time::Duration::from_secs(args.orphan_grace_seconds),
            memory_limit: args.memory_limit,
            staging: None,
        };
        if args.create_bucket {
            lake.ensure_bucket().await?;
        }
        Ok(lake)
    }

    /// This lake as seen by one shard of a split day: manifests of the sharded datasets are read
    /// from and written to the shard's stage (see [`crate::shard`]); everything else as usual.
    pub fn with_staging(mut self, staging: Option<Staging>) -> Self {
        self.staging = staging;
        self
    }

    /// The stage a manifest of `dataset` goes to (and comes from), when it is staged.
    pub fn staging_of(&self, dataset: DatasetId) -> Option<&Staging> {
        self.staging.as_ref().filter(|s| s.stages(dataset))
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The task's `--memory-limit`, which readers, writers and joins of this lake keep to.
    pub fn memory_limit(&self) -> Option<u64> {
        self.memory_limit
    }

    pub async fn ensure_bucket(&self) -> Result<()> {
        if self
            .s3
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self.s3.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(s3_err("CreateBucket", &self.bucket)(e)),
        }
    }

    /// Uploads a local file; returns its size.
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<u64> {
        let bytes = tokio::fs::metadata(path).await?.len();
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| LakeError::S3 {
                op: "PutObject",
                key: key.into(),
                message: e.to_string(),
            })?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map_err(s3_err("PutObject", key))?;
        Ok(bytes)
    }

    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(s3_err("PutObject", key))?;
        Ok(())
    }

    /// Downloads the object a manifest lists into a local file, streaming, and checks it is that
    /// object: its size and SHA-256 as the manifest records them. Anything else (truncated,
    /// replaced by another file, a manifest without checksums) is [`LakeError::Corrupt`] naming
    /// the key; a missing object is the S3 error naming it.
    pub async fn get_verified(
        &self,
        entry: &crate::manifest::FileEntry,
        path: &Path,
    ) -> Result<()> {
        use sha2::Digest;
        use tokio::io::AsyncWriteExt;
        let corrupt = |message: String| LakeError::Corrupt {
            key: entry.key.clone(),
            message,
        };
        if entry.sha256.is_empty() {
            return Err(corrupt(
                "its manifest records no checksum (written before checksums were kept)".into(),
            ));
        }
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&entry.key)
            .send()
            .await
            .map_err(s3_err("GetObject", &entry.key))?;
        let mut body = out.body;
        let mut file = tokio::fs::File::create(path).await?;
        let mut hash = sha2::Sha256::new();
        let mut bytes = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(|e| LakeError::S3 {
            op: "GetObject",
            key: entry.key.clone(),
            message: e.to_string(),
        })? {
            hash.update(&chunk);
            bytes += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        if bytes != entry.bytes {
            return Err(corrupt(format!(
                "{bytes} bytes, the manifest lists {}",
                entry.bytes
            )));
        }
        let digest = hex(&hash.finalize());
        if digest != entry.sha256 {
            return Err(corrupt(format!(
                "SHA-256 {digest}, the manifest lists {}",
                entry.sha256
            )));
        }
        Ok(())
    }

    /// An object's bytes, or None when it does not exist.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let data = out.body.collect().await.map_err(|e| LakeError::S3 {
                    op: "GetObject",
                    key: key.into(),
                    message: e.to_string(),
                })?;
                Ok(Some(data.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(s3_err("GetObject", key)(e)),
        }
    }

    /// Every key under a prefix.
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .list_objects(prefix)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// Every key under a prefix with its last-modified time.
    pub async fn list_objects(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, Option<chrono::DateTime<chrono::Utc>>)>> {
        let mut out = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3_err("ListObjectsV2", prefix))?;
            out.extend(page.contents().iter().filter_map(|o| {
                let modified = o
                    .last_modified()
                    .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
                Some((o.key()?.to_string(), modified))
            }));
        }
        Ok(out)
    }

    /// The immediate "sub-folders" of a prefix.
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3_err("ListObjectsV2", prefix))?;
            out.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
        }
        Ok(out)
    }

    pub async fn delete_keys(&self, keys: &[String]) -> Result<()> {
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| LakeError::S3 {
                    op: "DeleteObjects",
                    key: chunk.first().cloned().unwrap_or_default(),
                    message: e.to_string(),
                })?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| LakeError::S3 {
                    op: "DeleteObjects",
                    key: chunk.first().cloned().unwrap_or_default(),
                    message: e.to_string(),
                })?;
            self.s3
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(s3_err("DeleteObjects", &chunk[0]))?;
        }
        Ok(())
    }

    /// The partition's published manifest, if any.
    pub async fn manifest(&self, p: &Partition) -> Result<Option<Manifest>> {
        self.manifest_at(p.manifest_key()).await
    }

    /// Shard `shard`'s staged manifest of the partition in the run `stage`, if it finished.
    pub async fn staged_manifest(
        &self,
        p: &Partition,
        stage: &str,
        shard: Shard,
    ) -> Result<Option<Manifest>> {
        self.manifest_at(p.staged_key(stage, shard)).await
    }

    async fn manifest_at(&self, key: String) -> Result<Option<Manifest>> {
        match self.get_bytes(&key).await? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| LakeError::Manifest {
                        key,
                        message: e.to_string(),
                    })
            }
        }
    }

    /// The manifest a task needs as input; a clear error when the upstream task has not run. A
    /// shard of a split day reads the same shard's staged manifest of a sharded dataset.
    pub async fn require_manifest(&self, p: &Partition) -> Result<Manifest> {
        if let Some(s) = self.staging_of(p.dataset) {
            return self
                .staged_manifest(p, &s.stage, s.shard)
                .await?
                .ok_or_else(|| {
                    LakeError::MissingInput(format!(
                        "s3://{}/{} is not staged; run `{} --date {} --shard {} --stage-id {}` first",
                        self.bucket,
                        p.staged_key(&s.stage, s.shard),
                        p.dataset.zone.written_by(),
                        p.date,
                        s.shard,
                        s.stage
                    ))
                });
        }
        self.manifest(p).await?.ok_or_else(|| {
            LakeError::MissingInput(format!(
                "s3://{}/{} is not published; run `{} --date {}` first",
                self.bucket,
                p.manifest_key(),
                p.dataset.zone.written_by(),
                p.date
            ))
        })
    }

    /// What a writer does with a finished partition: publishes it, or for a shard of a split day
    /// stages its manifest of a sharded dataset for `commit` (its files stay unpublished).
    pub async fn publish_or_stage(&self, p: &Partition, manifest: &Manifest) -> Result<()> {
        match self.staging_of(p.dataset) {
            Some(s) => {
                let key = p.staged_key(&s.stage, s.shard);
                let body =
                    serde_json::to_vec_pretty(manifest).map_err(|e| LakeError::Manifest {
                        key: key.clone(),
                        message: e.to_string(),
                    })?;
                self.put_bytes(&key, body, "application/json").await?;
                tracing::info!(partition = %p, shard = %s.shard, stage = s.stage, "staged for commit");
                Ok(())
            }
            None => self.publish(p, manifest).await,
        }
    }

    /// Makes `manifest` the partition's content: one PUT of `_manifest.json` (atomic in S3) after
    /// all its files are uploaded. Until the PUT, readers keep seeing the previous manifest. Then
    /// files no manifest lists are removed: at once those of the manifest just replaced (its run
    /// has finished), and others (runs that died before publishing) only once older than the
    /// orphan grace period, since a younger one may belong to a run of this date still writing
    /// (staged manifests of shards included: a stage that never committed ages out the same way).
    pub async fn publish(&self, p: &Partition, manifest: &Manifest) -> Result<()> {
        let key = p.manifest_key();
        let replaced: Vec<String> = self
            .manifest(p)
            .await?
            .map(|m| m.files.into_iter().map(|f| f.key).collect())
            .unwrap_or_default();
        let body = serde_json::to_vec_pretty(manifest).map_err(|e| LakeError::Manifest {
            key: key.clone(),
            message: e.to_string(),
        })?;
        self.put_bytes(&key, body, "application/json").await?;
        let grace = chrono::Duration::from_std(self.orphan_grace).unwrap_or(chrono::Duration::MAX);
        let cutoff = chrono::Utc::now().checked_sub_signed(grace);
        let stale: Vec<String> = self
            .list_objects(&p.prefix())
            .await?
            .into_iter()
            .filter(|(k, _)| *k != key && !manifest.files.iter().any(|f| &f.key == k))
            .filter(|(k, modified)| {
                replaced.contains(k) || cutoff.zip(*modified).is_some_and(|(c, m)| m < c)
            })
            .map(|(k, _)| k)
            .collect();
        if !stale.is_empty() {
            tracing::info!(partition = %p, files = stale.len(), "removing files of earlier runs");
            self.delete_keys(&stale).await?;
        }
        Ok(())
    }

    /// The latest published partition of `dataset` strictly before `date`.
    pub async fn latest_before(
        &self,
        dataset: DatasetId,
        date: NaiveDate,
    ) -> Result<Option<Partition>> {
        let mut dates: Vec<NaiveDate> = self
            .list_dirs(&dataset.prefix())
            .await?
            .iter()
            .filter_map(|d| Partition::date_of(d))
            .filter(|d| *d < date)
            .collect();
        dates.sort_unstable();
        for d in dates.into_iter().rev() {
            let p = dataset.at(d);
            if self.manifest(&p).await?.is_some() {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }
}

/// SHA-256 of a local file, hex (what a manifest records for each file it lists).
pub fn file_sha256(path: &Path) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex(&hash.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
