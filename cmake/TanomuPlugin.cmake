# tanomu_add_plugin(NAME src...): build NAME.so into build/plugins (or, with
# TEST_ONLY, into build/test-plugins), against the SDK headers only: plugins
# never link against host symbols.
function(tanomu_add_plugin name)
  cmake_parse_arguments(P "TEST_ONLY" "" "LIBS" ${ARGN})
  add_library(plugin_${name} MODULE ${P_UNPARSED_ARGUMENTS})
  set_target_properties(plugin_${name} PROPERTIES
    PREFIX "" OUTPUT_NAME ${name}
    C_VISIBILITY_PRESET hidden)
  if(P_TEST_ONLY)
    set_target_properties(plugin_${name} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY ${TANOMU_TEST_PLUGIN_OUTPUT_DIR})
  else()
    set_target_properties(plugin_${name} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY ${TANOMU_PLUGIN_OUTPUT_DIR})
    install(TARGETS plugin_${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/tanomu/plugins)
  endif()
  target_link_libraries(plugin_${name} PRIVATE tanomu_sdk ${P_LIBS})
  target_link_options(plugin_${name} PRIVATE -Wl,-z,defs)
endfunction()
