# cmake/package.cmake -- the Debian package, built by CPack from the
# install rules of cmake/install.cmake: `cpack -G DEB` in a build tree
# configured with -DCMAKE_INSTALL_PREFIX=/usr (scripts/package does all of
# it) makes chanhost_<version>-<release>_amd64.deb with
#
#   /usr/bin/chanhost, /usr/lib/chanhost/plugins/*.so (with
#   -DCHANHOST_INSTALL_PLUGINDIR=lib/chanhost/plugins), /usr/share/chanhost/web,
#   /usr/include/chanhost, chanhost.pc and the CMake package under the
#   libdir, /usr/lib/systemd/system/chanhost.service, and
#   /etc/chanhost/chanhost.conf (a conffile: an edited one survives
#   upgrades);
#
# its Depends from dpkg-shlibdeps (the libraries the binary and plugins
# link) plus passwd (useradd); and the maintainer scripts of
# cmake/debian/: postinst makes the chanhost user and /var/lib/chanhost,
# postrm purge deletes them (remove and upgrade keep them).
#
# The Debian revision is CHANHOST_DEB_RELEASE (or, without reconfiguring,
# `cpack -G DEB -D CPACK_DEBIAN_PACKAGE_RELEASE=N`).
#
# Included from the top-level CMakeLists.txt after cmake/install.cmake.

set(CHANHOST_DEB_RELEASE 1 CACHE STRING "The Debian revision of the package (chanhost_VERSION-REVISION_ARCH.deb)")

# conffiles: every file the package puts under the configuration folder.
set(ch_deb_dir "${CMAKE_BINARY_DIR}/debian")
file(WRITE "${ch_deb_dir}/conffiles" "${CMAKE_INSTALL_FULL_SYSCONFDIR}/chanhost/chanhost.conf\n")
foreach(script postinst prerm postrm)
  configure_file("${CMAKE_SOURCE_DIR}/cmake/debian/${script}" "${ch_deb_dir}/${script}" COPYONLY)
endforeach()

set(CPACK_PACKAGE_NAME chanhost)
set(CPACK_PACKAGE_VENDOR "chanhost")
set(CPACK_PACKAGE_CONTACT "chanhost maintainers <chanhost@localhost>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "WebSocket host for chat plugins written in C")
set(CPACK_PACKAGE_DESCRIPTION "chanhost serves WebSocket chat routes (the Django Channels model) from
plugins written in C against its SDK: channel layer in memory or Redis,
message store in SQLite or PostgreSQL, an HTTP JSON API and a web UI.
This package holds the host, its bundled plugins, the web UI, the SDK
headers (pkg-config: chanhost) and a systemd unit.")
set(CPACK_GENERATOR DEB)
# Absolute destinations (/etc, /var) go under the staging directory.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_STRIP_FILES OFF)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE "${CHANHOST_DEB_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${ch_deb_dir}/conffiles;${ch_deb_dir}/postinst;${ch_deb_dir}/prerm;${ch_deb_dir}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
