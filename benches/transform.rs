//! What a transform costs per body, per mode: the spec's example image, a
//! real Glance image body (which `normalize` does change), and a 20-image
//! list of it. Paid once per cache fill, list or PATCH response, never on a
//! cache hit.
//!
//! `cargo bench --bench transform` (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use imgcache::config::{Config, TransformConfig};
use imgcache::transform::{Mode, transform_image_body, transform_list_body};

/// The spec's example response, as the golden tests use it.
const SPEC_EXAMPLE: &str = include_str!("../tests/golden/transform/input.json");

/// `GET /v2/images/{id}` from a real Glance 33 (`__lazyloading: "True"`).
const GLANCE_IMAGE: &str = r#"{"__os_type": "Linux", "__isregistered": "true", "__lazyloading": "True", "__os_bit": "64", "__platform": "CentOS", "__os_version": "CentOS 7.3 64bit", "__imagetype": "gold", "__support_kvm": "true", "__os_feature_list": "[\"onekey_resetpasswd\"]", "virtual_env_type": "FusionCompute", "name": "ims-centos7", "disk_format": "qcow2", "container_format": "bare", "visibility": "public", "size": null, "virtual_size": null, "status": "queued", "checksum": null, "protected": false, "min_ram": 1024, "min_disk": 40, "owner": "admin", "os_hidden": false, "os_hash_algo": null, "os_hash_value": null, "id": "cbffb74f-2516-414c-824c-9ec0ee8fd02b", "created_at": "2026-11-26T17:31:11Z", "updated_at": "2026-11-26T17:31:11Z", "tags": ["gold", "centos"], "self": "/v2/images/cbffb74f-2516-414c-824c-9ec0ee8fd02b", "file": "/v2/images/cbffb74f-2516-414c-824c-9ec0ee8fd02b/file", "schema": "/v2/schemas/image"}"#;

const MODES: [Mode; 4] = [Mode::Passthrough, Mode::Strip, Mode::Normalize, Mode::Typed];

fn config(mode: Mode) -> TransformConfig {
    TransformConfig {
        mode,
        ..Config::defaults().transform
    }
}

/// A `GET /v2/images?limit=20` body: 20 copies of the Glance image.
fn list_of_20() -> String {
    let images = vec![GLANCE_IMAGE; 20].join(", ");
    format!(
        r#"{{"images": [{images}], "first": "/v2/images?limit=20", "schema": "/v2/schemas/images", "next": "/v2/images?limit=20&marker=cbffb74f-2516-414c-824c-9ec0ee8fd02b"}}"#
    )
}

fn image_bodies(c: &mut Criterion) {
    for (name, body) in [
        ("spec_example", SPEC_EXAMPLE),
        ("glance_image", GLANCE_IMAGE),
    ] {
        let mut group = c.benchmark_group(format!("transform_image_body/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        // The floor every mode but passthrough pays: parsing the body.
        group.bench_with_input("serde_json_parse_only", body, |b, body| {
            b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(body)))
        });
        for mode in MODES {
            let config = config(mode);
            group.bench_with_input(
                BenchmarkId::from_parameter(mode.as_str()),
                body,
                |b, body| b.iter(|| transform_image_body(black_box(body.as_bytes()), &config)),
            );
        }
        group.finish();
    }
}

fn list_bodies(c: &mut Criterion) {
    let body = list_of_20();
    let mut group = c.benchmark_group("transform_list_body/20_images");
    group.throughput(Throughput::Bytes(body.len() as u64));
    for mode in MODES {
        let config = config(mode);
        group.bench_with_input(
            BenchmarkId::from_parameter(mode.as_str()),
            &body,
            |b, body| b.iter(|| transform_list_body(black_box(body.as_bytes()), &config)),
        );
    }
    group.finish();
}

criterion_group!(benches, image_bodies, list_bodies);
criterion_main!(benches);
