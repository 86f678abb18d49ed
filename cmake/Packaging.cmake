# Packaging: where the system files go, and the Debian package.
#
# `cpack -G DEB` makes four packages: `rapport` (component rapport),
# `librapport1` and `librapport-dev` (components librapport and dev: the C
# client library of lib/, see below) and `python3-rapport` (component
# python: the Python package of python/, into Debian's
# /usr/lib/python3/dist-packages). `cmake --install` (prefix /usr by
# default) installs them all. The rapport package holds the
# binaries (services/*/CMakeLists.txt), the .proto files (proto/), and from
# here: the systemd units, the tmpfiles.d and sysusers.d files, the example
# config, /etc/rapport/rapport.conf (a Debian conffile: the example with
# run_dir and state_dir set for the units) and the man page rapport(1).
# The units name /usr/bin/rapport-*, so install with the prefix /usr.

set(_deploy ${CMAKE_SOURCE_DIR}/deploy)

install(FILES ${_deploy}/systemd/rapport.target ${_deploy}/systemd/rapport-interaction.service
              ${_deploy}/systemd/rapport-segment.service ${_deploy}/systemd/rapport-logwriter.service
              ${_deploy}/systemd/rapport-relay.service
        DESTINATION /lib/systemd/system)
install(FILES ${_deploy}/systemd/rapport.tmpfiles DESTINATION lib/tmpfiles.d RENAME rapport.conf)
install(FILES ${_deploy}/systemd/rapport.sysusers DESTINATION lib/sysusers.d RENAME rapport.conf)
install(FILES ${_deploy}/rapport.conf.example DESTINATION ${CMAKE_INSTALL_DOCDIR})

# /etc/rapport/rapport.conf: the example with the directories of the
# systemd units, so that `rapport` finds the workers' sockets by default.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_deploy}/rapport.conf.example)
file(READ ${_deploy}/rapport.conf.example _conf)
foreach(_key_value "run_dir|/run/rapport" "state_dir|/var/lib/rapport")
  string(REPLACE "|" ";" _key_value "${_key_value}")
  list(GET _key_value 0 _key)
  list(GET _key_value 1 _value)
  string(REGEX MATCH "\n# ${_key} = [^\n]*" _line "${_conf}")
  if(NOT _line)
    message(WARNING "deploy/rapport.conf.example has no line '# ${_key} = ...': "
                    "the package's /etc/rapport/rapport.conf does not set ${_key}")
  else()
    string(REPLACE "${_line}" "\n${_key} = ${_value}" _conf "${_conf}")
  endif()
endforeach()
string(REPLACE "# Every setting below is commented out and shows its default value."
               "# Every setting below but run_dir and state_dir (the directories of the\n# systemd units) is commented out and shows its default value."
               _conf "${_conf}")
file(WRITE ${CMAKE_BINARY_DIR}/deploy/rapport.conf "${_conf}")
install(FILES ${CMAKE_BINARY_DIR}/deploy/rapport.conf DESTINATION /etc/rapport)

# The man page, gzipped as Debian wants it.
find_program(RAPPORT_GZIP gzip)
if(RAPPORT_GZIP)
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/docs/rapport.1.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/docs
    COMMAND sh -c "'${RAPPORT_GZIP}' -9n -c '${CMAKE_SOURCE_DIR}/docs/rapport.1' > '${CMAKE_BINARY_DIR}/docs/rapport.1.gz'"
    DEPENDS ${CMAKE_SOURCE_DIR}/docs/rapport.1
    COMMENT "gzip rapport.1"
    VERBATIM)
  add_custom_target(rapport_man ALL DEPENDS ${CMAKE_BINARY_DIR}/docs/rapport.1.gz)
  install(FILES ${CMAKE_BINARY_DIR}/docs/rapport.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  install(FILES ${CMAKE_SOURCE_DIR}/docs/rapport.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()

# ---- cpack -G DEB ------------------------------------------------------------
#
# As Debian splits daemons with a client library: rapport (the workers, the
# command, the units: component rapport), librapport1 (the shared library:
# component librapport), librapport-dev (header, generated message headers,
# rapport.pc, librapport(3): component dev), and python3-rapport.

set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL rapport librapport dev python)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_COMPONENT_RAPPORT_DEPENDS librapport)
set(CPACK_COMPONENT_DEV_DEPENDS librapport)
set(CPACK_DEBIAN_RAPPORT_PACKAGE_NAME rapport)
set(CPACK_DEBIAN_LIBRAPPORT_PACKAGE_NAME librapport1)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME librapport-dev)
set(CPACK_DEBIAN_LIBRAPPORT_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# The first line of every package's description is
# CPACK_PACKAGE_DESCRIPTION_SUMMARY (CPackDeb's rule); the rest says which
# part of rapport the package holds.
string(CONCAT CPACK_DEBIAN_LIBRAPPORT_DESCRIPTION
       "This package holds librapport, the C client library of the workers.\n"
       "librapport calls the rapport workers (interactions, segments, the\n"
       "interaction log) over ZeroMQ, resending under one request id until a\n"
       "deadline, and follows their event stream exactly once (librapport(3)).")
string(CONCAT CPACK_DEBIAN_DEV_DESCRIPTION
       "This package holds the development files of librapport, the C client\n"
       "library of the workers: the header <rapport/client.h>, the message headers generated from the\n"
       ".proto files, rapport.pc (pkg-config) and the man page librapport(3).")
# The header includes <protobuf-c/protobuf-c.h>; rapport.pc requires it.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libprotobuf-c-dev")
# /usr/bin/rapport needs librapport.so.1 from its sibling package.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_BINARY_DIR}/lib)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_PACKAGE_NAME rapport)
set(CPACK_DEBIAN_RAPPORT_PACKAGE_NAME rapport)
set(CPACK_PACKAGE_VENDOR "rapport")
set(CPACK_PACKAGE_CONTACT "rapport maintainers <rapport@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "interactions with contacts and segments, as ZeroMQ services over LMDB")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "rapport records the interactions a company has with its contacts (calls,\n"
       "letters, e-mails, meetings) and logs them for whole segments of contacts.\n"
       "Three workers (rapport-interaction, rapport-segment, rapport-logwriter)\n"
       "exchange protobuf commands over ZeroMQ; the log writer keeps every entry in\n"
       "LMDB and publishes events; rapport-relay puts every change on NATS\n"
       "JetStream. Includes the systemd units (rapport.target),\n"
       "the rapport command and the .proto contract.")
# Per package: the long description (CPack puts the summary above it).
set(CPACK_DEBIAN_RAPPORT_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://localhost/rapport")
find_program(RAPPORT_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(RAPPORT_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_RAPPORT_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_LIBRAPPORT_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_RAPPORT_PACKAGE_DEPENDS "libc6, libzmq5, libprotobuf-c1, liblmdb0, libnats3.4")
  if(SYSTEMD_FOUND)
    string(APPEND CPACK_DEBIAN_RAPPORT_PACKAGE_DEPENDS ", libsystemd0")
  endif()
  set(CPACK_DEBIAN_LIBRAPPORT_PACKAGE_DEPENDS "libc6, libzmq5, libprotobuf-c1")
endif()
set(CPACK_DEBIAN_RAPPORT_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_RAPPORT_PACKAGE_SUGGESTS
    "lmdb-utils, prometheus-node-exporter, nats-server, python3-rapport")
# Maintainer scripts (user, tmpfiles, daemon-reload; no automatic start)
# and the conffile list, of the rapport package only.
set(CPACK_DEBIAN_RAPPORT_PACKAGE_CONTROL_EXTRA
    ${_deploy}/debian/postinst ${_deploy}/debian/prerm ${_deploy}/debian/postrm
    ${_deploy}/debian/conffiles)

# python3-rapport: pure Python, on Debian's python3-zmq and python3-protobuf.
set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-rapport)
set(CPACK_DEBIAN_PYTHON_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "python3 (>= 3.9), python3-zmq, python3-protobuf")
set(CPACK_DEBIAN_PYTHON_PACKAGE_SUGGESTS "rapport")
# Byte-compiled at install, cleaned at removal (py3compile, py3clean).
set(CPACK_DEBIAN_PYTHON_PACKAGE_CONTROL_EXTRA
    ${_deploy}/debian/python3-rapport/postinst ${_deploy}/debian/python3-rapport/prerm)
string(CONCAT CPACK_DEBIAN_PYTHON_DESCRIPTION
       "The Python client: the package `rapport`: a Client with a method per command of\n"
       "rapport-interaction, rapport-segment and rapport-logwriter (request ids,\n"
       "retries under the same id, errors with code, message and field), and a\n"
       "Subscriber of the event stream that recovers gaps and resumes from a\n"
       "saved seq. Examples in /usr/share/doc/python3-rapport/examples.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
