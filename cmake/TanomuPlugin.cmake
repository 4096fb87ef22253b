# TanomuPlugin.cmake - tanomu_add_plugin(): build a Tanomu plugin and lay it
# out the way the host finds it.  The same file serves the plugins in this
# tree and, installed with the SDK (find_package(TanomuSDK) includes it),
# plugins built out of tree.
#
#   tanomu_add_plugin(NAME
#                     [SOURCES] file.c ...
#                     [MIGRATIONS migrations/0001_x.sql ...]
#                     [ASSETS assets/app.js ...] [ASSETS_BASE dir]
#                     [LIBS lib ...]
#                     [TEST_ONLY])
#
# The target is plugin_NAME (a MODULE library).  It builds NAME.so: no "lib"
# prefix, C17, hidden visibility (only tn_plugin_entry, marked
# TN_PLUGIN_EXPORT, is exported), position-independent, and linked with
# -z defs, so a plugin that uses a host symbol instead of its tn_api table
# fails to link rather than to load.  It links the SDK headers only.
#
# Layout, the same in the build tree and once installed:
#   PLUGINDIR/NAME.so
#   PLUGINDIR/NAME/migrations/NNNN_name.sql   run by `tanomu migrate` when
#                                             database.plugin_migrations_dir
#                                             is PLUGINDIR
#   PLUGINDIR/NAME/assets/...                 static files, their paths kept
#                                             relative to ASSETS_BASE
#                                             (default: ./assets)
# PLUGINDIR is TANOMU_PLUGIN_OUTPUT_DIR in the build tree (default: the top
# build directory; TEST_ONLY plugins: TANOMU_TEST_PLUGIN_OUTPUT_DIR) and
# TANOMU_PLUGIN_INSTALL_DIR when installed (default:
# ${CMAKE_INSTALL_LIBDIR}/tanomu/plugins).  TEST_ONLY plugins are never
# installed.  Migration file names are checked here, as `tanomu migrate`
# checks them: NNNN_name.sql, name in [a-z0-9_].
include_guard(GLOBAL)
include(GNUInstallDirs)

# Copies files into dir at build time (and when they change), as a target
# the plugin depends on.
function(_tanomu_plugin_stage target dir base)
  set(outs "")
  foreach(f ${ARGN})
    get_filename_component(src ${f} ABSOLUTE)
    if(base)
      file(RELATIVE_PATH rel ${base} ${src})
      if(rel MATCHES "^\\.\\./")
        message(FATAL_ERROR "tanomu_add_plugin: ${f} is not under ${base}")
      endif()
    else()
      get_filename_component(rel ${src} NAME)
    endif()
    set(out ${dir}/${rel})
    add_custom_command(OUTPUT ${out} DEPENDS ${src}
      COMMAND ${CMAKE_COMMAND} -E copy_if_different ${src} ${out} VERBATIM)
    list(APPEND outs ${out})
  endforeach()
  if(outs)
    add_custom_target(${target} ALL DEPENDS ${outs})
  endif()
endfunction()

function(tanomu_add_plugin name)
  cmake_parse_arguments(P "TEST_ONLY" "ASSETS_BASE" "SOURCES;MIGRATIONS;ASSETS;LIBS" ${ARGN})
  if(NOT name MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "tanomu_add_plugin: plugin name '${name}' is not [a-z0-9_]{1,32}")
  endif()
  set(target plugin_${name})
  add_library(${target} MODULE ${P_SOURCES} ${P_UNPARSED_ARGUMENTS})
  set_target_properties(${target} PROPERTIES
    PREFIX "" OUTPUT_NAME ${name}
    C_STANDARD 17 C_STANDARD_REQUIRED ON
    C_VISIBILITY_PRESET hidden POSITION_INDEPENDENT_CODE ON)
  if(TARGET Tanomu::sdk)
    target_link_libraries(${target} PRIVATE Tanomu::sdk ${P_LIBS})
  else()
    target_link_libraries(${target} PRIVATE tanomu_sdk ${P_LIBS})
  endif()
  target_link_options(${target} PRIVATE LINKER:-z,defs)

  if(P_TEST_ONLY AND DEFINED TANOMU_TEST_PLUGIN_OUTPUT_DIR)
    set(outdir ${TANOMU_TEST_PLUGIN_OUTPUT_DIR})
  elseif(DEFINED TANOMU_PLUGIN_OUTPUT_DIR)
    set(outdir ${TANOMU_PLUGIN_OUTPUT_DIR})
  else()
    set(outdir ${CMAKE_BINARY_DIR})
  endif()
  set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${outdir})
  if(DEFINED TANOMU_PLUGIN_INSTALL_DIR)
    set(instdir ${TANOMU_PLUGIN_INSTALL_DIR})
  else()
    set(instdir ${CMAKE_INSTALL_LIBDIR}/tanomu/plugins)
  endif()

  foreach(m ${P_MIGRATIONS})
    get_filename_component(mname ${m} NAME)
    if(NOT mname MATCHES "^[0-9][0-9][0-9][0-9]_[a-z0-9_]+\\.sql$")
      message(FATAL_ERROR "tanomu_add_plugin(${name}): migration ${m}: want NNNN_name.sql, "
                          "name in [a-z0-9_]")
    endif()
  endforeach()
  if(NOT P_ASSETS_BASE)
    set(P_ASSETS_BASE ${CMAKE_CURRENT_SOURCE_DIR}/assets)
  endif()
  get_filename_component(P_ASSETS_BASE ${P_ASSETS_BASE} ABSOLUTE)
  _tanomu_plugin_stage(${target}_migrations ${outdir}/${name}/migrations "" ${P_MIGRATIONS})
  _tanomu_plugin_stage(${target}_assets ${outdir}/${name}/assets ${P_ASSETS_BASE} ${P_ASSETS})
  foreach(t ${target}_migrations ${target}_assets)
    if(TARGET ${t})
      add_dependencies(${target} ${t})
    endif()
  endforeach()

  if(NOT P_TEST_ONLY)
    install(TARGETS ${target} LIBRARY DESTINATION ${instdir})
    if(P_MIGRATIONS)
      install(FILES ${P_MIGRATIONS} DESTINATION ${instdir}/${name}/migrations)
    endif()
    foreach(a ${P_ASSETS})
      get_filename_component(src ${a} ABSOLUTE)
      file(RELATIVE_PATH rel ${P_ASSETS_BASE} ${src})
      get_filename_component(reldir ${rel} DIRECTORY)
      install(FILES ${src} DESTINATION ${instdir}/${name}/assets/${reldir})
    endforeach()
  endif()
endfunction()
