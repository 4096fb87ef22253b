# plugin_new_test.cmake - `tanomu plugin new NAME [DIR]` (issue 7 §7): installs
# the build into a scratch prefix, has the installed tanomu write a plugin
# from the installed template, and builds that plugin out of tree with CMake
# (find_package(TanomuSDK)) and with make + pkg-config, running its testkit
# test each time.  Also: bad names and an existing DIR are refused and
# nothing is overwritten; the build tree's tanomu falls back to the source
# tree's template.  Run by CTest as sdk_plugin_new:
#   cmake -DBUILD_DIR=.. -DSOURCE_TEMPLATE=.. -DWORK_DIR=.. -DLIBDIR=lib
#         -DCTEST=ctest [-DEXTRA_FLAGS=..] -P plugin_new_test.cmake
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
endfunction()

# Runs a command that must fail with status `want`; its output must match re.
function(refused want re)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL want OR NOT out MATCHES "${re}")
    message(FATAL_ERROR "expected status ${want} and '${re}' from ${ARGN}, got ${rc}:\n${out}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/gen)
set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
set(tanomu ${prefix}/bin/tanomu)

# Refusals: the name rule, and DIR must not exist (its file stays as it was).
refused(2 "not \\[a-z\\]" ${tanomu} plugin new 9lives ${WORK_DIR}/gen/x)
refused(2 "not \\[a-z\\]" ${tanomu} plugin new Shop ${WORK_DIR}/gen/x)
refused(2 "not \\[a-z\\]" ${tanomu} plugin new a234567890123456789012345678901234 ${WORK_DIR}/gen/x)
refused(2 "usage" ${tanomu} plugin new)
file(WRITE ${WORK_DIR}/gen/taken/keep.txt "mine\n")
refused(1 "must not exist" ${tanomu} plugin new shop_orders ${WORK_DIR}/gen/taken)
file(READ ${WORK_DIR}/gen/taken/keep.txt kept)
file(GLOB taken_files ${WORK_DIR}/gen/taken/*)
list(LENGTH taken_files ntaken)
if(NOT kept STREQUAL "mine\n" OR NOT ntaken EQUAL 1)
  message(FATAL_ERROR "plugin new touched an existing directory")
endif()

# The installed tanomu uses the installed template.
set(src ${WORK_DIR}/gen/shop_orders)
execute_process(COMMAND ${tanomu} plugin new shop_orders ${src} RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "share/tanomu/template")
  message(FATAL_ERROR "plugin new (installed) failed or used another template (${rc}):\n${out}")
endif()
foreach(f shop_orders.c tests/test_shop_orders.c CMakeLists.txt Makefile README.md
          migrations/README.md tenants/example.conf)
  if(NOT EXISTS ${src}/${f})
    message(FATAL_ERROR "plugin new wrote no ${f}")
  endif()
endforeach()
file(GLOB_RECURSE written ${src}/*)
foreach(f ${written})
  file(READ ${f} text)
  if(f MATCHES "myplugin" OR text MATCHES "myplugin")
    message(FATAL_ERROR "${f}: 'myplugin' left in the generated plugin")
  endif()
endforeach()

# 1. CMake against the installed SDK.
set(cbuild ${WORK_DIR}/cmake-build)
run(${CMAKE_COMMAND} -S ${src} -B ${cbuild} -DCMAKE_PREFIX_PATH=${prefix}
    "-DCMAKE_C_FLAGS=-Werror ${EXTRA_FLAGS}")
run(${CMAKE_COMMAND} --build ${cbuild})
if(NOT EXISTS ${cbuild}/shop_orders.so)
  message(FATAL_ERROR "the CMake build made no shop_orders.so")
endif()
run(${CTEST} --test-dir ${cbuild} --output-on-failure)

# 2. make + pkg-config (builds in place: on a second copy).
set(mbuild ${WORK_DIR}/gen/make_copy)
run(${tanomu} plugin new shop_orders ${mbuild})
run(${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${prefix}/${LIBDIR}/pkgconfig
    "CFLAGS=-O2 -g -Werror ${EXTRA_FLAGS}" "LDFLAGS=${EXTRA_FLAGS}"
    make -C ${mbuild} all test)
if(NOT EXISTS ${mbuild}/shop_orders.so)
  message(FATAL_ERROR "the make build made no shop_orders.so")
endif()

# The build tree's tanomu (no share/ beside it) falls back to the source
# tree's template.
execute_process(COMMAND ${BUILD_DIR}/bin/tanomu plugin new fallback ${WORK_DIR}/gen/fallback
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "${SOURCE_TEMPLATE}" OR
   NOT EXISTS ${WORK_DIR}/gen/fallback/fallback.c)
  message(FATAL_ERROR "the build tree's tanomu did not use ${SOURCE_TEMPLATE} (${rc}):\n${out}")
endif()
message(STATUS "plugin new: written, refused where it must, built and tested both ways")
