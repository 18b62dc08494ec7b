# The OpenStack side shared by tests/interop/tempest/run.sh and
# tests/interop/isolation/run.sh, which source it: a real Keystone and a real
# Glance 33 under uWSGI, started by tests/interop/keystone/run.sh's own
# functions (loaded from that file, not copied: start_keystone, start_glance,
# start_proxy, write_proxy_config, stop_proxy, on_exit, ...), with Glance set
# up for image import: two file stores (fs, fs2), so that copy-image has
# somewhere to copy to, the import methods glance-direct, web-download and
# copy-image, the reserved staging and tasks stores.
#
# GLANCE_FLAVOR picks Glance's paste pipeline: `keystone` (the default:
# keystonemiddleware's auth_token filter, as keystone/run.sh) or `interop`
# (no keystonemiddleware; tests/interop/identities.py maps the fixed tokens
# tok-admin, tok-project-a, tok-project-b to identities, as
# tests/interop/run.sh).
#
# FS2_SLOW_SECONDS > 0 makes the second store `slowfile` (slowstore/: a
# file store that waits that long before storing each image, as a remote
# store would), so that an import into it is still running when a client
# first looks at the image. 0 (the default): a plain file store.
#
# The sourcing script sets STACK_LOG_NAME (the message prefix) and, after
# sourcing, may set HERE back to its own directory.

STACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# keystone/run.sh defines its settings (venv paths, ADMIN_PASSWORD,
# UWSGI_COMMON, ...) and functions, and sources lib.sh; sourced, it runs
# nothing.
# shellcheck source=/dev/null
source "$STACK_DIR/../keystone/run.sh"
LOG_NAME=$STACK_LOG_NAME
GLANCE_FLAVOR=${GLANCE_FLAVOR:-keystone}
FS2_SLOW_SECONDS=${FS2_SLOW_SECONDS:-0}

# hide_own_env PREFIX: the sourcing harness's IMGCACHE_<PREFIX>* variables
# stay set but are no longer exported. The proxy takes every IMGCACHE_*
# variable as config, and keystone/run.sh's proxy_env hides only its own.
hide_own_env() {
    local var
    for var in $(compgen -e | grep -E "^$1" || true); do export -n "$var"; done
}

# As keystone/run.sh's write_glance_config (which this replaces), with the
# second store, the import methods and import filtering: web-download may
# only fetch from 127.0.0.1, so a test that names an outside URL is refused
# by Glance itself (400) and nothing leaves the machine.
# enabled_import_methods is a bracketed list (bounds=True): unbracketed, it
# fails to parse only when a response is serialized, and uWSGI then drops
# every image create without an answer.
write_glance_config() {
    local etc=$WORK/glance-etc fs2=file
    [[ $FS2_SLOW_SECONDS == 0 ]] || fs2=slowfile
    mkdir -p "$etc" "$WORK/images" "$WORK/images2" "$WORK/staging" "$WORK/tasks"
    cat >"$etc/glance-api.conf" <<EOF
[DEFAULT]
enabled_backends = fs:file, fs2:$fs2
enabled_import_methods = [glance-direct, web-download, copy-image]
allow_anonymous_access = false

[database]
connection = sqlite:///$WORK/glance.sqlite

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = $WORK/images

[fs2]
filesystem_store_datadir = $WORK/images2

[os_glance_staging_store]
filesystem_store_datadir = $WORK/staging

[os_glance_tasks_store]
filesystem_store_datadir = $WORK/tasks

[import_filtering_opts]
allowed_hosts = 127.0.0.1

[image_format]
# Tempest's image list tests upload bytes that are no real disk image
# (tempest.conf: image_format_enforcement = false).
require_image_format_match = false

[paste_deploy]
config_file = $etc/glance-api-paste.ini
flavor = $GLANCE_FLAVOR

[keystone_authtoken]
www_authenticate_uri = $KS_URL
auth_url = $KS_URL
auth_type = password
username = glance
password = $GLANCE_PASSWORD
user_domain_id = default
project_name = service
project_domain_id = default
token_cache_time = -1
http_connect_timeout = 5
http_request_max_retries = 1
EOF
    # Both flavors; [paste_deploy] flavor picks one. identities.py is
    # found through PYTHONPATH (set by start_stack_glance).
    cat >"$etc/glance-api-paste.ini" <<'EOF'
[pipeline:glance-api-keystone]
pipeline = versionnegotiation authtoken context rootapp

[pipeline:glance-api-interop]
pipeline = versionnegotiation tokenidentity context rootapp

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true

[filter:tokenidentity]
paste.filter_factory = identities:filter_factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
EOF
}

# start_stack_glance: keystone/run.sh's start_glance (uWSGI, 2 processes x
# 4 threads, request log glance-requests.log) with this config; Glance's
# PYTHONPATH gets identities.py (flavor interop) and the slow store.
start_stack_glance() {
    local path=${PYTHONPATH:-}
    [[ $GLANCE_FLAVOR != interop ]] || path=$STACK_DIR/..${path:+:$path}
    [[ $FS2_SLOW_SECONDS == 0 ]] || path=$STACK_DIR/slowstore${path:+:$path}
    PYTHONPATH=$path INTEROP_SLOW_STORE_SECONDS=$FS2_SLOW_SECONDS start_glance
}

# load_glance_metadefs: the metadata definitions Glance ships (devstack
# loads them too; Tempest's metadefs tests need its resource types).
load_glance_metadefs() {
    "$GLANCE_VENV/bin/glance-manage" --config-file "$WORK/glance-etc/glance-api.conf" db_load_metadefs \
        "$GLANCE_VENV/etc/glance/metadefs" >"$WORK/glance-metadefs.log" 2>&1 \
        || { tail -n 30 "$WORK/glance-metadefs.log" >&2; die "glance-manage db_load_metadefs failed"; }
}

# seed_keystone_and_glance: keystone/check.py seed (the glance service user
# keystonemiddleware validates with; alice + carol in proj-a, bob in proj-b;
# four private images of proj-a and one public image) into $WORK/seed.json.
seed_keystone_and_glance() {
    "$KS_VENV/bin/python" "$STACK_DIR/../keystone/check.py" seed --keystone "$KS_URL" \
        --glance "http://127.0.0.1:$GLANCE_PORT" --admin-password "$ADMIN_PASSWORD" --state "$WORK/seed.json" \
        >"$WORK/seed.log" 2>&1 || { cat "$WORK/seed.log" >&2; die "seeding Keystone and Glance failed"; }
    log "seeded: users alice, carol (proj-a), bob (proj-b), glance (service); 4 private images of proj-a, 1 public"
}
