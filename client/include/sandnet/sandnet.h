/* libsandnet C ABI: the sandnetd client for runtimes written in C, Go, Rust
 * or Python (FFI). JSON strings in and out; the JSON shapes are the
 * protocol's (see the README, "Protocol").
 *
 * Conventions:
 *  - Every call returns SANDNET_OK (0) or a negative sandnet_code. On
 *    failure, if err is not NULL, *err receives an error object the caller
 *    frees with sandnet_error_free. On success *err is set to NULL.
 *  - Strings returned through char** are malloc'ed, NUL-terminated, and
 *    freed with sandnet_free_string.
 *  - No C++ exception crosses this ABI.
 *  - Thread safety: a sandnet_client may be used from several threads; its
 *    requests are serialised on its one connection. Use one client per
 *    thread for parallel requests. Error objects are independent values.
 */
#ifndef SANDNET_SANDNET_H
#define SANDNET_SANDNET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Stable codes: the JSON-RPC error codes of the protocol, plus 0. */
typedef enum sandnet_code {
  SANDNET_OK = 0,
  SANDNET_E_PARSE = -32700,           /* the daemon could not parse our request */
  SANDNET_E_INVALID_REQUEST = -32600, /* malformed request, or a malformed reply */
  SANDNET_E_METHOD_NOT_FOUND = -32601,
  SANDNET_E_INVALID_PARAMS = -32602,  /* bad input (also caught before sending) */
  SANDNET_E_INTERNAL = -32603,
  SANDNET_E_PERMISSION_DENIED = -32001,
  SANDNET_E_NOT_FOUND = -32002,
  SANDNET_E_ALREADY_EXISTS = -32003,
  SANDNET_E_PLUGIN_FAILED = -32004,   /* see sandnet_error_cni_code/msg */
  SANDNET_E_TIMEOUT = -32005,
  SANDNET_E_PROCESS_GONE = -32006,
  SANDNET_E_BUSY = -32007,
  SANDNET_E_UNAVAILABLE = -32008,     /* daemon closed the connection / shutting down */
  SANDNET_E_SYSTEM = -32009           /* an OS call failed; see sandnet_error_errno */
} sandnet_code;

typedef struct sandnet_client sandnet_client;
typedef struct sandnet_error sandnet_error;

/* The library's version, e.g. "0.1.0". */
const char* sandnet_version(void);

/* socket_path NULL: $SANDNET_SOCKET, else /run/sandnet/sandnetd.sock. The
 * connection is opened by the first request. */
int sandnet_client_new(const char* socket_path, sandnet_client** out, sandnet_error** err);
/* Timeouts in milliseconds; 0 keeps the current value. Not to be called
 * while another thread uses the client; the connection is reopened. */
int sandnet_client_set_timeouts(sandnet_client* client, unsigned connect_ms, unsigned request_ms);
void sandnet_client_free(sandnet_client* client);

/* Any method: params_json is a JSON object (NULL means {}); fd, if >= 0, is
 * sent with the request (SCM_RIGHTS) and stays the caller's. */
int sandnet_call_json(sandnet_client* client, const char* method, const char* params_json, int fd,
                      char** result_json, sandnet_error** err);

/* sandbox.setup. params_json holds "id" and either "pid" or "fd":"pidfd"|"netns"
 * with fd_or_minus1 the pidfd/netns fd. result_json: the SandboxInfo. */
int sandnet_setup_json(sandnet_client* client, const char* params_json, int fd_or_minus1, char** result_json,
                       sandnet_error** err);
int sandnet_teardown_json(sandnet_client* client, const char* id, char** result_json, sandnet_error** err);
int sandnet_check(sandnet_client* client, const char* id, sandnet_error** err);
int sandnet_get_json(sandnet_client* client, const char* id, char** result_json, sandnet_error** err);
int sandnet_list_json(sandnet_client* client, char** result_json, sandnet_error** err);
int sandnet_inspect_json(sandnet_client* client, const char* id, char** result_json, sandnet_error** err);
int sandnet_networks_json(sandnet_client* client, char** result_json, sandnet_error** err);
int sandnet_info_json(sandnet_client* client, char** result_json, sandnet_error** err);
int sandnet_gc_json(sandnet_client* client, char** result_json, sandnet_error** err);
int sandnet_status_json(sandnet_client* client, char** result_json, sandnet_error** err);

/* Typed helpers. sandnet_setup_pidfd: sets up sandbox `id` on the default
 * networks from a pidfd (preferred over a PID: no PID reuse race);
 * netns_path (may be NULL) receives the pin path. */
int sandnet_setup_pidfd(sandnet_client* client, const char* id, int pidfd, char** netns_path, sandnet_error** err);
int sandnet_teardown(sandnet_client* client, const char* id, sandnet_error** err);

/* One uid_map/gid_map line, as OCI's linux.uidMappings. */
typedef struct sandnet_id_mapping {
  uint32_t container_id;
  uint32_t host_id;
  uint32_t size;
} sandnet_id_mapping;

/* sandnet_setup_create: the daemon makes a user namespace with exactly these
 * maps (checked against the caller's policy, idMappings and subordinate IDs)
 * and a network namespace owned by it, attaches it to the default networks and
 * pins both; the pod then joins them by path (OCI linux.namespaces "path").
 * netns_path and userns_path (either may be NULL) receive the pins. */
int sandnet_setup_create(sandnet_client* client, const char* id, const sandnet_id_mapping* uid_mappings,
                         size_t uid_count, const sandnet_id_mapping* gid_mappings, size_t gid_count,
                         char** netns_path, char** userns_path, sandnet_error** err);

/* Error getters; strings live as long as the error object. */
int sandnet_error_code(const sandnet_error* err);
const char* sandnet_error_message(const sandnet_error* err);
int sandnet_error_errno(const sandnet_error* err);          /* 0 unless SANDNET_E_SYSTEM */
int sandnet_error_has_cni(const sandnet_error* err);        /* 1 when a CNI plugin error is attached */
unsigned sandnet_error_cni_code(const sandnet_error* err);
const char* sandnet_error_cni_msg(const sandnet_error* err);
const char* sandnet_error_cni_details(const sandnet_error* err);
void sandnet_error_free(sandnet_error* err);

void sandnet_free_string(char* s);

#ifdef __cplusplus
}
#endif

#endif /* SANDNET_SANDNET_H */
