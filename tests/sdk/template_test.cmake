# template_test.cmake - installs the SDK component into a scratch prefix,
# then builds the installed template (share/tanomu/template) out of tree
# twice, with find_package(TanomuSDK) and with make + pkg-config, and runs
# the template's unit test each time.  The CMake build also gets a
# migration and an asset, to check the layout tanomu_add_plugin() makes in
# the build tree and in an install (NAME.so, NAME/migrations, NAME/assets).
# Run by CTest as sdk_template:
#   cmake -DBUILD_DIR=.. -DTEMPLATE_DIR=.. -DWORK_DIR=.. -DLIBDIR=lib
#         -DCTEST=ctest [-DEXTRA_FLAGS=..] -P template_test.cmake
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
endfunction()

# Only what a plugin author gets: the installed SDK, no source tree.
function(check_exports so)
  find_program(NM nm REQUIRED)
  execute_process(COMMAND ${NM} -D --defined-only ${so} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
  string(REGEX MATCHALL "[0-9a-f]+ T [A-Za-z_0-9]+" text "${syms}")
  if(NOT rc EQUAL 0 OR NOT text MATCHES " T tn_plugin_entry" OR text MATCHES " T ping")
    message(FATAL_ERROR "${so}: must export tn_plugin_entry and hide the rest:\n${syms}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --component sdk)
foreach(f include/tanomu/tanomu.h include/tanomu/testkit.h ${LIBDIR}/libtanomu_testkit.a
          ${LIBDIR}/pkgconfig/tanomu-sdk.pc ${LIBDIR}/pkgconfig/tanomu-testkit.pc
          ${LIBDIR}/cmake/TanomuSDK/TanomuSDKConfig.cmake
          ${LIBDIR}/cmake/TanomuSDK/TanomuPlugin.cmake
          share/doc/tanomu/sdk.md share/tanomu/template/myplugin.c
          share/tanomu/template/CMakeLists.txt share/tanomu/template/Makefile
          share/tanomu/template/tests/test_myplugin.c
          share/tanomu/template/migrations/README.md
          share/tanomu/template/tenants/example.conf)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "the SDK install lacks ${f}")
  endif()
endforeach()
if(EXISTS ${prefix}/bin)
  message(FATAL_ERROR "the sdk component installed the host too")
endif()

# The testkit compiles some host sources in (router, schema, http_util,
# buf), but installs no host header: only the SDK's headers and testkit.h.
get_filename_component(sdk_dir ${TEMPLATE_DIR} DIRECTORY)
file(GLOB want RELATIVE ${sdk_dir}/include ${sdk_dir}/include/tanomu/*.h)
list(APPEND want tanomu/testkit.h)
file(GLOB_RECURSE got RELATIVE ${prefix}/include ${prefix}/include/*)
list(SORT want)
list(SORT got)
if(NOT got STREQUAL want)
  message(FATAL_ERROR "the SDK install has headers ${got}, expected ${want}")
endif()

# ... and it needs nothing of the host's libraries: every host_ symbol it
# uses is inside the archive, and no libconfig, libuv, libpq, OpenSSL or
# http-parser symbol is left to resolve.  libsodium is the testkit's own
# declared dependency (secret_seal/unseal are the real cipher, S18; the
# .pc file and the CMake package require it).
find_program(NM nm REQUIRED)
set(archive ${prefix}/${LIBDIR}/libtanomu_testkit.a)
execute_process(COMMAND ${NM} -u ${archive} OUTPUT_VARIABLE undef RESULT_VARIABLE rc1)
execute_process(COMMAND ${NM} --defined-only ${archive} OUTPUT_VARIABLE defined RESULT_VARIABLE rc2)
if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
  message(FATAL_ERROR "nm failed on ${archive}")
endif()
string(REGEX MATCHALL "U (config_|uv_|PQ|SSL_|OPENSSL_|http_parser)[A-Za-z0-9_]*"
       foreign "${undef}")
if(foreign)
  message(FATAL_ERROR "the testkit needs host libraries: ${foreign}")
endif()
string(REGEX MATCHALL "U host_[A-Za-z0-9_]+" host_refs "${undef}")
foreach(ref ${host_refs})
  string(SUBSTRING "${ref}" 2 -1 sym)
  if(NOT defined MATCHES " T ${sym}\n")
    message(FATAL_ERROR "the testkit uses ${sym}, which it does not contain")
  endif()
endforeach()

# 1. CMake, find_package(TanomuSDK), from a copy of the installed template
# with a migration and an asset added.
set(csrc ${WORK_DIR}/cmake-src)
set(cbuild ${WORK_DIR}/cmake-build)
file(COPY ${prefix}/share/tanomu/template/ DESTINATION ${csrc})
file(WRITE ${csrc}/migrations/0001_myplugin_items.sql "SELECT 1;\n")
file(WRITE ${csrc}/assets/js/app.js "// asset\n")
run(${CMAKE_COMMAND} -S ${csrc} -B ${cbuild} -DCMAKE_PREFIX_PATH=${prefix}
    "-DCMAKE_C_FLAGS=-Werror ${EXTRA_FLAGS}")
run(${CMAKE_COMMAND} --build ${cbuild})
check_exports(${cbuild}/myplugin.so)
run(${CTEST} --test-dir ${cbuild} --output-on-failure)
set(pdir ${WORK_DIR}/plugin-prefix)
run(${CMAKE_COMMAND} --install ${cbuild} --prefix ${pdir})
foreach(f ${cbuild}/myplugin/migrations/0001_myplugin_items.sql ${cbuild}/myplugin/assets/js/app.js
          ${pdir}/${LIBDIR}/tanomu/plugins/myplugin.so
          ${pdir}/${LIBDIR}/tanomu/plugins/myplugin/migrations/0001_myplugin_items.sql
          ${pdir}/${LIBDIR}/tanomu/plugins/myplugin/assets/js/app.js)
  if(NOT EXISTS ${f})
    message(FATAL_ERROR "tanomu_add_plugin laid out no ${f}")
  endif()
endforeach()

# 2. make, pkg-config (the Makefile builds in place: work on a copy)
set(mbuild ${WORK_DIR}/make-build)
file(COPY ${prefix}/share/tanomu/template/ DESTINATION ${mbuild})
file(WRITE ${mbuild}/migrations/0001_myplugin_items.sql "SELECT 1;\n")
file(WRITE ${mbuild}/assets/app.js "// asset\n")
run(${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${prefix}/${LIBDIR}/pkgconfig
    "CFLAGS=-O2 -g -Werror ${EXTRA_FLAGS}" "LDFLAGS=${EXTRA_FLAGS}"
    make -C ${mbuild} all test install PLUGINDIR=${WORK_DIR}/make-plugins)
check_exports(${mbuild}/myplugin.so)
foreach(f myplugin.so myplugin/migrations/0001_myplugin_items.sql myplugin/assets/app.js)
  if(NOT EXISTS ${WORK_DIR}/make-plugins/${f})
    message(FATAL_ERROR "make install laid out no ${f}")
  endif()
endforeach()
message(STATUS "template built and tested with CMake and with pkg-config")
