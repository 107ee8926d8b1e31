# cmake/install.cmake -- what `cmake --install` puts under the prefix, and
# the files that let plugins be built out of tree against it:
#
#   bin/chanhost                               the host
#   ${libdir}/chanhost/plugins/*.so            the bundled plugins (plugins/*)
#   include/chanhost/chanhost.h, chanhost_schema.h, chanhost_kit.h  the SDK
#   share/chanhost/web/                        the web UI
#   ${sysconfdir}/chanhost/chanhost.conf       etc/chanhost.conf, its paths
#                                              pointing at the above
#   ${localstatedir}/lib/chanhost/             the SQLite store's folder
#   ${libdir}/pkgconfig/chanhost.pc            pkg-config: cflags, plugindir,
#                                              abi_major, abi_minor
#   ${libdir}/cmake/chanhost/                  find_package(chanhost):
#                                              chanhost::sdk, CHANHOST_PLUGIN_DIR,
#                                              chanhost_add_plugin()
#   lib/systemd/system/chanhost.service        the systemd unit (etc/chanhost.service.in),
#                                              its paths pointing at the above
#
# Directories come from GNUInstallDirs, so the same rules serve a temporary
# prefix (`cmake --install build --prefix /tmp/x`: everything under it) and
# /usr (where GNUInstallDirs puts the configuration in /etc and the state
# in /var).  Files that name absolute paths (chanhost.conf, chanhost.pc)
# are written at install time, from the prefix actually installed to.
#
# Included from the top-level CMakeLists.txt after the targets exist.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The plugin folder under the prefix: ${libdir}/chanhost/plugins unless a
# package moves it (e.g. -DCHANHOST_INSTALL_PLUGINDIR=lib/chanhost/plugins).
set(CHANHOST_INSTALL_PLUGINDIR "" CACHE STRING
  "Where the bundled plugins are installed, relative to the prefix or absolute (empty: LIBDIR/chanhost/plugins)")
# The Debian package (cmake/package.cmake) makes the state folder in its
# postinst, owned by the chanhost user, rather than shipping it.
option(CHANHOST_INSTALL_STATEDIR "Create the SQLite store's folder (LOCALSTATEDIR/lib/chanhost) on install" ON)

# The SDK's ABI version, read from sdk/chanhost.h: the header is the one
# source of truth, and a change to it re-runs this configuration.
set(ch_sdk_header "${CMAKE_SOURCE_DIR}/sdk/chanhost.h")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${ch_sdk_header}")
foreach(part MAJOR MINOR)
  file(STRINGS "${ch_sdk_header}" ch_line REGEX "^#define CHANHOST_ABI_${part} +[0-9]+")
  if(NOT ch_line MATCHES "CHANHOST_ABI_${part} +([0-9]+)")
    message(FATAL_ERROR "sdk/chanhost.h: no '#define CHANHOST_ABI_${part} N' line")
  endif()
  set(CHANHOST_ABI_${part} "${CMAKE_MATCH_1}")
endforeach()

# ch_install_dest(<out> <dir> <full>): the install destination of the
# GNUInstallDirs folder <dir> (relative, e.g. "etc") whose absolute form
# is <full>.  Relative, so that it follows --prefix, when <full> lies under
# the configured prefix; absolute otherwise (/etc and /var for /usr).
function(ch_install_dest out dir full)
  if(IS_ABSOLUTE "${dir}" OR NOT full STREQUAL "${CMAKE_INSTALL_PREFIX}/${dir}")
    set(${out} "${full}" PARENT_SCOPE)
  else()
    set(${out} "${dir}" PARENT_SCOPE)
  endif()
endfunction()

ch_install_dest(ch_confdir "${CMAKE_INSTALL_SYSCONFDIR}/chanhost"
  "${CMAKE_INSTALL_FULL_SYSCONFDIR}/chanhost")
ch_install_dest(ch_statedir "${CMAKE_INSTALL_LOCALSTATEDIR}/lib/chanhost"
  "${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/chanhost")
set(ch_plugindir "${CHANHOST_INSTALL_PLUGINDIR}")
if(NOT ch_plugindir)
  set(ch_plugindir "${CMAKE_INSTALL_LIBDIR}/chanhost/plugins")
endif()
set(ch_webdir "${CMAKE_INSTALL_DATADIR}/chanhost/web")
set(ch_includedir "${CMAKE_INSTALL_INCLUDEDIR}/chanhost")
set(ch_cmakedir "${CMAKE_INSTALL_LIBDIR}/cmake/chanhost")
set(ch_unitdir "lib/systemd/system")

# ch_from_bindir(<out> <dest>): <dest> as the installed binary finds it: a
# path relative to the binary's folder when <dest> is relative to the
# prefix (so an installed tree may move), else <dest> itself.
function(ch_from_bindir out dest)
  if(IS_ABSOLUTE "${dest}")
    set(${out} "${dest}" PARENT_SCOPE)
  else()
    file(RELATIVE_PATH rel "/prefix/${CMAKE_INSTALL_BINDIR}" "/prefix/${dest}")
    set(${out} "${rel}" PARENT_SCOPE)
  endif()
endfunction()

# The host: when it runs from its install location (main.c checks that its
# plugin folder is there) it defaults to the installed plugins and config.
ch_from_bindir(ch_bin_plugindir "${ch_plugindir}")
ch_from_bindir(ch_bin_config "${ch_confdir}/chanhost.conf")
target_compile_definitions(chanhost PRIVATE
  CHANHOST_INSTALL_PLUGIN_DIR="${ch_bin_plugindir}"
  CHANHOST_INSTALL_CONFIG="${ch_bin_config}")
install(TARGETS chanhost RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")

# The bundled plugins: the MODULE targets of plugins/*/ (the test plugins
# of tests/plugins are not installed).  The target chanhost_dist builds
# the binary and them, all an install needs (scripts/package builds it).
add_custom_target(chanhost_dist)
add_dependencies(chanhost_dist chanhost)
file(GLOB ch_plugin_dirs LIST_DIRECTORIES true "${CMAKE_SOURCE_DIR}/plugins/*")
foreach(dir ${ch_plugin_dirs})
  if(EXISTS "${dir}/CMakeLists.txt")
    get_property(ch_targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
    foreach(t ${ch_targets})
      get_target_property(ch_type ${t} TYPE)
      if(ch_type STREQUAL "MODULE_LIBRARY")
        install(TARGETS ${t} LIBRARY DESTINATION "${ch_plugindir}")
        add_dependencies(chanhost_dist ${t})
      endif()
    endforeach()
  endif()
endforeach()

install(FILES sdk/chanhost.h sdk/chanhost_schema.h sdk/chanhost_kit.h DESTINATION "${ch_includedir}")
install(DIRECTORY web/ DESTINATION "${ch_webdir}")
if(CHANHOST_INSTALL_STATEDIR)
  install(DIRECTORY DESTINATION "${ch_statedir}")
endif()

# The installed config: etc/chanhost.conf with its three paths replaced
# by placeholders that the install step fills in.
set(ch_conf_src "${CMAKE_SOURCE_DIR}/etc/chanhost.conf")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${ch_conf_src}")
file(READ "${ch_conf_src}" ch_conf)
foreach(pair "plugin_dir|@CH_PLUGIN_DIR@" "static_dir|@CH_WEB_DIR@"
             "store|sqlite:@CH_STATE_DIR@/chanhost.db")
  string(REPLACE "|" ";" pair "${pair}")
  list(GET pair 0 key)
  list(GET pair 1 value)
  if(NOT ch_conf MATCHES "\n${key} [^\n]*\n")
    message(FATAL_ERROR "etc/chanhost.conf: no '${key}' line to point at the install")
  endif()
  string(REGEX REPLACE "\n${key} [^\n]*\n" "\n${key} ${value}\n" ch_conf "${ch_conf}")
endforeach()
file(WRITE "${CMAKE_BINARY_DIR}/install/chanhost.conf.in" "${ch_conf}")

# At install time: CH_* are the absolute folders under the prefix actually
# installed to (CMAKE_INSTALL_PREFIX in the install script), and the config,
# pkg-config's file (cmake/chanhost.pc.in) and the systemd unit
# (etc/chanhost.service.in) are written from their templates and installed
# (DESTDIR included).
install(CODE "
  set(ch_gen \"${CMAKE_BINARY_DIR}/install\")
  set(ch_pc_in \"${CMAKE_SOURCE_DIR}/cmake/chanhost.pc.in\")
  set(ch_unit_in \"${CMAKE_SOURCE_DIR}/etc/chanhost.service.in\")
  set(ch_dirs \"${ch_confdir};${ch_statedir};${ch_plugindir};${ch_webdir};${CMAKE_INSTALL_LIBDIR}/pkgconfig;${CMAKE_INSTALL_INCLUDEDIR};${CMAKE_INSTALL_BINDIR};${ch_unitdir}\")
  set(CH_VERSION \"${PROJECT_VERSION}\")
  set(CH_ABI_MAJOR \"${CHANHOST_ABI_MAJOR}\")
  set(CH_ABI_MINOR \"${CHANHOST_ABI_MINOR}\")
")
install(CODE [[
  set(ch_abs)
  foreach(d ${ch_dirs})
    if(IS_ABSOLUTE "${d}")
      list(APPEND ch_abs "${d}")
    else()
      list(APPEND ch_abs "${CMAKE_INSTALL_PREFIX}/${d}")
    endif()
  endforeach()
  list(GET ch_abs 0 CH_CONF_DIR)
  list(GET ch_abs 1 CH_STATE_DIR)
  list(GET ch_abs 2 CH_PLUGIN_DIR)
  list(GET ch_abs 3 CH_WEB_DIR)
  list(GET ch_abs 4 CH_PC_DIR)
  list(GET ch_abs 5 CH_INCLUDE_DIR)
  list(GET ch_abs 6 CH_BIN_DIR)
  list(GET ch_abs 7 CH_UNIT_DIR)
  set(CH_PREFIX "${CMAKE_INSTALL_PREFIX}")
  configure_file("${ch_gen}/chanhost.conf.in" "${ch_gen}/out/chanhost.conf" @ONLY)
  configure_file("${ch_pc_in}" "${ch_gen}/out/chanhost.pc" @ONLY)
  configure_file("${ch_unit_in}" "${ch_gen}/out/chanhost.service" @ONLY)
  file(INSTALL "${ch_gen}/out/chanhost.conf" DESTINATION "${CH_CONF_DIR}")
  file(INSTALL "${ch_gen}/out/chanhost.pc" DESTINATION "${CH_PC_DIR}")
  file(INSTALL "${ch_gen}/out/chanhost.service" DESTINATION "${CH_UNIT_DIR}")
]])

# find_package(chanhost): relocatable (paths relative to the config file).
set(CHANHOST_PACKAGE_PLUGINDIR "${ch_plugindir}")
set(CHANHOST_PACKAGE_INCLUDEDIR "${ch_includedir}")
configure_package_config_file(cmake/chanhostConfig.cmake.in
  "${CMAKE_BINARY_DIR}/install/chanhostConfig.cmake"
  INSTALL_DESTINATION "${ch_cmakedir}"
  PATH_VARS CHANHOST_PACKAGE_PLUGINDIR CHANHOST_PACKAGE_INCLUDEDIR)
write_basic_package_version_file("${CMAKE_BINARY_DIR}/install/chanhostConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMajorVersion)
install(FILES "${CMAKE_BINARY_DIR}/install/chanhostConfig.cmake"
  "${CMAKE_BINARY_DIR}/install/chanhostConfigVersion.cmake" DESTINATION "${ch_cmakedir}")
