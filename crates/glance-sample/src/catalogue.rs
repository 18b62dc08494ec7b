//! The demo catalogue: realistic IMS images in the shapes real Glance and the
//! IMS spec show.
//!
//! IMS extension fields (`__…`) are JSON strings throughout, as Glance's
//! schema (`additionalProperties: {"type": "string"}`) forces them to be.

use serde_json::{Value, json};

use super::pattern::pattern_sha256;
use super::{
    DEACTIVATED_IMAGE_ID, EXAMPLE_IMAGE_ID, FEATURES_IMAGE_ID, PRIVATE_IMAGE_ID, QUEUED_IMAGE_ID,
    SHARED_IMAGE_ID, TAGGED_IMAGE_ID,
};

/// Owner of the private and shared demo images.
pub const PROJECT_A: &str = "project-a";
/// The project the shared demo image is shared with.
pub const PROJECT_B: &str = "project-b";
/// Size of the private demo image's file (the fixture upload's size).
const PRIVATE_FILE_SIZE: u64 = 262_144;

/// Every demo image, in list order.
pub fn demo_images() -> Vec<Value> {
    vec![
        example_image(),
        private_image(),
        shared_image(),
        queued_image(),
        deactivated_image(),
        tagged_image(),
        features_image(),
    ]
}

/// `(image id, member project)` pairs of the demo catalogue.
pub fn demo_members() -> Vec<(&'static str, &'static str)> {
    vec![(SHARED_IMAGE_ID, PROJECT_B)]
}

/// The spec's "Example response", field for field and in its order.
pub fn example_image() -> Value {
    json!({
        "schema": "/v2/schemas/image",
        "min_disk": 100,
        "created_at": "2018-09-06T14:03:27Z",
        "__image_source_type": "uds",
        "container_format": "bare",
        "file": format!("/v2/images/{EXAMPLE_IMAGE_ID}/file"),
        "updated_at": "2018-09-06T15:17:33Z",
        "protected": true,
        "checksum": "d41d8cd98f00b204e9800998ecf8427e",
        "id": EXAMPLE_IMAGE_ID,
        "__isregistered": "true",
        "min_ram": 2048,
        "__lazyloading": "true",
        "owner": "1bed856811654c1cb661a6ca845ebc77",
        "__os_type": "Linux",
        "__imagetype": "gold",
        "visibility": "public",
        "virtual_env_type": "FusionCompute",
        "tags": [],
        "__platform": "CentOS",
        "size": 0,
        "__os_bit": "64",
        "__os_version": "CentOS 7.3 64bit",
        "name": "CentOS 7.3 64bit vivado",
        "self": format!("/v2/images/{EXAMPLE_IMAGE_ID}"),
        "disk_format": "zvhd2",
        "virtual_size": null,
        "status": "active"
    })
}

/// The `i`-th generated image: the spec example's shape under another id and
/// name, not protected so that tests may delete it.
pub fn generated_image(id: &str, i: usize) -> Value {
    let mut image = example_image();
    if let Value::Object(map) = &mut image {
        map.insert("file".into(), json!(format!("/v2/images/{id}/file")));
        map.insert("protected".into(), json!(false));
        map.insert("id".into(), json!(id));
        map.insert("name".into(), json!(format!("generated-image-{i}")));
        map.insert("self".into(), json!(format!("/v2/images/{id}")));
    }
    image
}

/// Core Glance fields after the extension fields, in Glance's order (as in
/// fixtures 02 and 21); `status`, `size` and hashes vary per image.
fn glance_core(id: &str, name: &str, visibility: &str, owner: &str) -> Value {
    json!({
        "name": name,
        "disk_format": "zvhd2",
        "container_format": "bare",
        "visibility": visibility,
        "size": null,
        "virtual_size": null,
        "status": "active",
        "checksum": null,
        "protected": false,
        "min_ram": 0,
        "min_disk": 40,
        "owner": owner,
        "os_hidden": false,
        "os_hash_algo": null,
        "os_hash_value": null,
        "id": id,
        "created_at": "2024-03-11T08:15:42Z",
        "updated_at": "2024-03-11T08:21:07Z",
        "tags": [],
        "self": format!("/v2/images/{id}"),
        "file": format!("/v2/images/{id}/file"),
        "schema": "/v2/schemas/image"
    })
}

/// Extension fields first, then the core fields with `overrides` applied
/// in place (so the order stays Glance's).
fn glance_image(extensions: Value, core: Value, overrides: Value) -> Value {
    let mut out = serde_json::Map::new();
    for part in [extensions, core] {
        if let Value::Object(map) = part {
            out.extend(map);
        }
    }
    if let Value::Object(map) = overrides {
        for (key, value) in map {
            out.insert(key, value);
        }
    }
    Value::Object(out)
}

/// A private image of project-a with a file (the fixture upload's size).
fn private_image() -> Value {
    glance_image(
        json!({
            "__os_type": "Linux",
            "__isregistered": "true",
            "__imagetype": "private",
            "__platform": "Ubuntu",
            "__os_version": "Ubuntu 22.04 server 64bit",
            "__os_bit": "64",
            "__image_source_type": "uds",
            "__originalimagename": "ubuntu-22.04-base",
            "__root_origin": "file",
            "__data_origin": "file,ubuntu-22.04.qcow2",
            "__image_size": "262144",
            "__lazyloading": "False",
            "__description": "Private build image of project-a",
            "hw_firmware_type": "bios",
            "virtual_env_type": "FusionCompute",
        }),
        glance_core(PRIVATE_IMAGE_ID, "private-a", "private", PROJECT_A),
        json!({
            "disk_format": "raw",
            "size": PRIVATE_FILE_SIZE,
            "virtual_size": PRIVATE_FILE_SIZE,
            "min_disk": 0,
            "os_hash_algo": "sha256",
            "os_hash_value": pattern_sha256(PRIVATE_FILE_SIZE),
        }),
    )
}

/// A shared image of project-a, member project-b.
fn shared_image() -> Value {
    glance_image(
        json!({
            "__os_type": "Linux",
            "__isregistered": "true",
            "__imagetype": "shared",
            "__platform": "Debian",
            "__os_version": "Debian GNU/Linux 12.0.0 64bit",
            "__os_bit": "64",
            "__support_kvm": "true",
            "__lazyloading": "True",
            "__system__cmkid": "7a1f0c1e-3d4b-4c5a-9e8f-0b1c2d3e4f5a",
            "virtual_env_type": "FusionCompute",
        }),
        glance_core(SHARED_IMAGE_ID, "debian-12-shared", "shared", PROJECT_A),
        json!({"size": 0, "checksum": "d41d8cd98f00b204e9800998ecf8427e"}),
    )
}

/// Fixture 02's image, byte for byte: public, queued, tagged.
fn queued_image() -> Value {
    glance_image(
        json!({
            "__os_type": "Linux",
            "__isregistered": "true",
            "__lazyloading": "True",
            "__os_bit": "64",
            "__platform": "CentOS",
            "__os_version": "CentOS 7.3 64bit",
            "__imagetype": "gold",
            "__support_kvm": "true",
            "__os_feature_list": "[\"onekey_resetpasswd\"]",
            "virtual_env_type": "FusionCompute",
        }),
        glance_core(QUEUED_IMAGE_ID, "ims-centos7", "public", "admin"),
        json!({
            "disk_format": "qcow2",
            "status": "queued",
            "min_ram": 1024,
            "created_at": "2026-11-26T17:31:11Z",
            "updated_at": "2026-11-26T17:31:11Z",
            "tags": ["gold", "centos"],
        }),
    )
}

/// A deactivated public Windows image.
fn deactivated_image() -> Value {
    glance_image(
        json!({
            "__os_type": "Windows",
            "__isregistered": "true",
            "__imagetype": "gold",
            "__platform": "Windows",
            "__os_version": "Windows Server 2019 Datacenter 64bit English",
            "__os_bit": "64",
            "__support_kvm": "true",
            "__support_xen": "false",
            "__support_fc_inject": "true",
            "__is_config_init": "true",
            "__lazyloading": "true",
            "hw_firmware_type": "uefi",
            "virtual_env_type": "FusionCompute",
        }),
        glance_core(
            DEACTIVATED_IMAGE_ID,
            "Windows Server 2019 (retired)",
            "public",
            "admin",
        ),
        json!({"status": "deactivated", "size": 0, "min_ram": 4096}),
    )
}

/// A public Ubuntu image with tags and the sequence/market fields.
fn tagged_image() -> Value {
    glance_image(
        json!({
            "__os_type": "Linux",
            "__isregistered": "true",
            "__imagetype": "gold",
            "__platform": "Ubuntu",
            "__os_version": "Ubuntu 22.04 server 64bit",
            "__os_bit": "64",
            "__sequence_num": "12",
            "__support_kvm": "true",
            "__support_largememory": "true",
            "__support_diskintensive": "true",
            "__support_highperformance": "true",
            "__lazyloading": "True",
            "hw_vif_multiqueue_enabled": "true",
            "virtual_env_type": "FusionCompute",
        }),
        glance_core(
            TAGGED_IMAGE_ID,
            "Ubuntu 22.04 server 64bit",
            "public",
            "admin",
        ),
        json!({"size": 0, "tags": ["ubuntu", "lts", "server"]}),
    )
}

/// A public EulerOS image whose `__os_feature_list` is nested JSON text and
/// which carries most of the spec's remaining `__` fields.
fn features_image() -> Value {
    glance_image(
        json!({
            "__os_type": "Linux",
            "__isregistered": "true",
            "__imagetype": "gold",
            "__platform": "EulerOS",
            "__os_version": "EulerOS 2.9 64bit",
            "__os_bit": "64",
            "__os_feature_list": "{\"onekey_resetpasswd\": \"true\", \"nvme\": {\"support\": \"true\", \"queues\": \"4\"}}",
            "__support_kvm": "true",
            "__support_xen": "false",
            "__support_xen_gpu_type": "",
            "__support_kvm_gpu_type": "V100_vGPU",
            "__support_xen_hana": "false",
            "__support_kvm_infiniband": "true",
            "__support_amd": "false",
            "__image_location": "ims-image-bucket:eulersos-2.9.zvhd2",
            "__backup_id": "",
            "__image_size": "4294967296",
            "__lazyloading": "true",
            "enterprise_project_id": "0",
            "hw_firmware_type": "bios",
            "active_at": "2024-03-11T08:21:07Z",
            "virtual_env_type": "FusionCompute",
        }),
        glance_core(FEATURES_IMAGE_ID, "EulerOS 2.9 64bit", "public", "admin"),
        json!({"size": 0, "min_ram": 2048}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use glance_json::to_bytes;

    /// The queued demo image is byte-for-byte fixture 02's body.
    #[test]
    fn queued_image_is_fixture_02() {
        let fixture = r#"{"__os_type": "Linux", "__isregistered": "true", "__lazyloading": "True", "__os_bit": "64", "__platform": "CentOS", "__os_version": "CentOS 7.3 64bit", "__imagetype": "gold", "__support_kvm": "true", "__os_feature_list": "[\"onekey_resetpasswd\"]", "virtual_env_type": "FusionCompute", "name": "ims-centos7", "disk_format": "qcow2", "container_format": "bare", "visibility": "public", "size": null, "virtual_size": null, "status": "queued", "checksum": null, "protected": false, "min_ram": 1024, "min_disk": 40, "owner": "admin", "os_hidden": false, "os_hash_algo": null, "os_hash_value": null, "id": "cbffb74f-2516-414c-824c-9ec0ee8fd02b", "created_at": "2026-11-26T17:31:11Z", "updated_at": "2026-11-26T17:31:11Z", "tags": ["gold", "centos"], "self": "/v2/images/cbffb74f-2516-414c-824c-9ec0ee8fd02b", "file": "/v2/images/cbffb74f-2516-414c-824c-9ec0ee8fd02b/file", "schema": "/v2/schemas/image"}"#;
        assert_eq!(String::from_utf8_lossy(&to_bytes(&queued_image())), fixture);
        assert_eq!(fixture.len(), 898);
    }

    /// Every `__` field of every demo image is a JSON string.
    #[test]
    fn extension_fields_are_strings() {
        for image in demo_images() {
            let Value::Object(map) = image else {
                panic!("not an object")
            };
            for (key, value) in &map {
                if key.starts_with("__") {
                    assert!(value.is_string(), "{key} is {value}");
                }
            }
        }
    }

    /// The spec example keeps the spec's field order.
    #[test]
    fn example_keeps_spec_order() {
        let body = String::from_utf8_lossy(&to_bytes(&example_image())).into_owned();
        assert!(
            body.starts_with(r#"{"schema": "/v2/schemas/image", "min_disk": 100, "created_at""#)
        );
        assert!(
            body.ends_with(r#""disk_format": "zvhd2", "virtual_size": null, "status": "active"}"#)
        );
    }
}
