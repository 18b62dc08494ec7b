//! `--demo`: the proxy in front of the sample image service (crate
//! `glance-sample`), started in-process, with curl commands to try.
//!
//! The sample is a test fixture, so it is compiled in only with the default
//! `demo` feature; a build without it (`--no-default-features`) has an
//! uninhabited [`Demo`] and `--demo` is refused with [`UNAVAILABLE`].

/// Whether this build can run `--demo`.
pub const AVAILABLE: bool = cfg!(feature = "demo");

/// What `--demo` says in a build without the `demo` feature.
pub const UNAVAILABLE: &str = "this build has no demo: it was built without the `demo` \
     feature (cargo build --no-default-features); build with default features for --demo";

#[cfg(feature = "demo")]
pub use with_sample::Demo;
#[cfg(not(feature = "demo"))]
pub use without_sample::Demo;

#[cfg(feature = "demo")]
mod with_sample {
    use std::net::SocketAddr;

    use glance_sample::{EXAMPLE_IMAGE_ID, PRIVATE_IMAGE_ID, SampleHandle, SampleService};

    use crate::config::{Config, parse_upstream_url};

    /// The demo's running upstream; dropping it stops the sample.
    pub struct Demo {
        sample: SampleHandle,
    }

    impl Demo {
        /// Starts the sample image service with its control endpoints
        /// (`/_sample/…`: counts, latency, faults) on a port of their own,
        /// so nothing sent through the proxy can reach them, and points
        /// `config`'s upstream at it.
        pub async fn start(config: &mut Config) -> std::io::Result<Demo> {
            let sample = SampleService::demo().start_split().await?;
            if let Ok((origin, base_path)) = parse_upstream_url(&sample.url()) {
                config.upstream.origin = origin;
                config.upstream.base_path = base_path;
            }
            Ok(Demo { sample })
        }

        /// Prints the curl commands to try against the running proxy.
        pub fn print_help(&self, listen: SocketAddr, admin: SocketAddr) {
            let base = format!("http://{listen}");
            let sample_control = self.sample.control_addr;
            let token = "-H 'X-Auth-Token: alice:project-a:member'";
            println!(
                "\nimgcache demo: the proxy on {base}, in front of an embedded sample image service.\n\
                 Try (the first read is a miss, the second a hit; watch Cache-Status):\n\n\
                 \x20 curl -si {token} {base}/v2/images/{EXAMPLE_IMAGE_ID}\n\
                 \x20 curl -si {token} {base}/v2/images/{EXAMPLE_IMAGE_ID}\n\
                 \x20 curl -si {token} {base}/v2/images/{PRIVATE_IMAGE_ID}   # project-a's private image\n\
                 \x20 curl -si -H 'X-Auth-Token: bob:project-b:member' {base}/v2/images/{PRIVATE_IMAGE_ID}   # 404 for another project\n\
                 \x20 curl -si {base}/v2/images/{EXAMPLE_IMAGE_ID}   # 401 without a token\n\
                 \x20 curl -si -X PATCH -H 'X-Auth-Token: admin:admin:admin' \\\n\
                 \x20      -H 'Content-Type: application/openstack-images-v2.1-json-patch' \\\n\
                 \x20      --data '[{{\"op\": \"replace\", \"path\": \"/__os_version\", \"value\": \"CentOS 7.9 64bit\"}}]' \\\n\
                 \x20      {base}/v2/images/{EXAMPLE_IMAGE_ID}\n\
                 \x20 curl -s {token} '{base}/v2/images?limit=3'\n\
                 \x20 curl -s http://{admin}/cache/stats\n\
                 \x20 curl -s http://{admin}/metrics\n\n\
                 The sample image service's own controls (not reachable through the proxy):\n\n\
                 \x20 curl -s http://{sample_control}/_sample/stats   # requests that reached the upstream\n\
                 \x20 curl -s -X POST 'http://{sample_control}/_sample/latency?ms=200'\n\
                 \x20 curl -s -X POST 'http://{sample_control}/_sample/fault?kind=fail_next&remaining=1&status=503'\n\n\
                 Stop with Ctrl-C.\n"
            );
        }
    }
}

#[cfg(not(feature = "demo"))]
mod without_sample {
    use std::net::SocketAddr;

    use crate::config::Config;

    /// No demo in this build: a value of this type cannot exist.
    pub enum Demo {}

    impl Demo {
        /// Always fails: this build has no sample image service.
        pub async fn start(_config: &mut Config) -> std::io::Result<Demo> {
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                super::UNAVAILABLE,
            ))
        }

        /// Unreachable: there is no `Demo` to call it on.
        pub fn print_help(&self, _listen: SocketAddr, _admin: SocketAddr) {
            match *self {}
        }
    }
}
