/* sandnet-status: asks sandnetd for its status through libsandnet's C ABI.
 *
 *   cc sandnet-status.c $(pkg-config --cflags --libs sandnet) -o sandnet-status
 *   ./sandnet-status [SOCKET]    (default: $SANDNET_SOCKET, else /run/sandnet/sandnetd.sock)
 *
 * Prints the library's version, then the daemon's status as JSON (exit 0),
 * or the reason it could not get it on stderr (exit 1). */
#include <stdio.h>

#include <sandnet/sandnet.h>

int main(int argc, char** argv) {
  if (argc > 2) {
    fprintf(stderr, "usage: %s [SOCKET]\n", argv[0]);
    return 2;
  }
  printf("libsandnet %s\n", sandnet_version());
  fflush(stdout);

  sandnet_client* client = NULL;
  sandnet_error* err = NULL;
  char* status = NULL;
  int rc = sandnet_client_new(argc == 2 ? argv[1] : NULL, &client, &err);
  if (rc == SANDNET_OK) rc = sandnet_status_json(client, &status, &err);
  if (rc == SANDNET_OK) {
    printf("%s\n", status);
  } else {
    /* errno is set for SANDNET_E_SYSTEM (connect: no daemon there, ENOENT). */
    fprintf(stderr, "sandnet-status: %s (code %d, errno %d)\n", sandnet_error_message(err), sandnet_error_code(err),
            sandnet_error_errno(err));
  }
  sandnet_free_string(status);
  sandnet_error_free(err);
  sandnet_client_free(client);
  return rc == SANDNET_OK ? 0 : 1;
}
