//! `image_copy FROM TO JOBS NAME:TAG...`: copies each image (an index with its platforms, or
//! one image) by digest from FROM to TO (`docker://…` or `oci:…`) with the code `krel stage`
//! and `krel release` use, and tags it; prints what was sent as JSON. For bench/images.

// A benchmark driver: its output is the point.
#![allow(clippy::print_stdout)]

use krel_image::{
    run_transfer, ImageLocation, ImageRef, ImageStore, ImageTag, ImageTransfer, RegistryEnv,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [from, to, jobs, images @ ..] = args.as_slice() else {
        return Err("usage: image_copy FROM TO JOBS NAME:TAG...".into());
    };
    let from: ImageLocation = from.parse()?;
    let to: ImageLocation = to.parse()?;
    let jobs: usize = jobs.parse()?;
    let env = RegistryEnv::default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let source = ImageStore::open(&from, &env)?;
    let mut transfer = ImageTransfer {
        from: from.clone(),
        to,
        images: Vec::new(),
        tags: Vec::new(),
    };
    // The digests, looked up at once (a release has them in its record).
    let lookups = images.iter().map(|image| {
        let (source, from) = (&source, &from);
        async move {
            let (name, tag) = image.split_once(':').ok_or("NAME:TAG")?;
            let manifest = source
                .manifest(&from.repository(name), tag)
                .await?
                .ok_or_else(|| format!("{name}:{tag} is not in {from}"))?;
            Ok::<_, Box<dyn std::error::Error>>((
                name.to_string(),
                tag.to_string(),
                manifest.digest,
            ))
        }
    });
    for found in runtime.block_on(futures_util::future::join_all(lookups)) {
        let (name, tag, digest) = found?;
        transfer.images.push(ImageRef {
            name: name.clone(),
            digest: digest.clone(),
            signed: Vec::new(),
        });
        transfer.tags.push(ImageTag { name, tag, digest });
    }
    let stats = runtime.block_on(run_transfer(&transfer, &env, jobs))?;
    println!("{}", serde_json::to_string(&stats)?);
    Ok(())
}
