# Run by `cmake --install` (install(SCRIPT), component client): the hooks.d
# files of contrib/oci-hooks with the hook's path as installed, so that they
# are right for the --prefix (and DESTDIR) given at install time.
foreach(hook sandnet-setup sandnet-teardown)
  file(READ "${SANDNET_HOOKS_SOURCE}/${hook}.json" hook_json)
  string(REPLACE "/usr/bin/sandnet-oci-hook" "${CMAKE_INSTALL_PREFIX}/${SANDNET_INSTALL_BINDIR}/sandnet-oci-hook"
         hook_json "${hook_json}")
  file(WRITE "${SANDNET_HOOKS_STAGING}/${hook}.json" "${hook_json}")
  # file(INSTALL) puts $DESTDIR in front by itself.
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/${SANDNET_INSTALL_DATADIR}/containers/oci/hooks.d"
       TYPE FILE FILES "${SANDNET_HOOKS_STAGING}/${hook}.json")
endforeach()
