# DIAGNOSTIC ONLY (not one of the three requested recipes): dynamic int8 weights, TENSORWISE instead of CHANNELWISE,
# to test whether tflite_runtime 2.14's hybrid kernels mis-handle per-channel weight scales.
from ai_edge_quantizer import quantizer, recipe_manager, qtyping
rm = recipe_manager.RecipeManager()
rm.add_dynamic_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=8,
                      granularity=qtyping.QuantGranularity.TENSORWISE)
q = quantizer.Quantizer("/tmp/aeq-work/float.tflite")
q.load_quantization_recipe(rm.get_quantization_recipe())
q.quantize().export_model("/tmp/aeq-work/diag_dynamic_wi8t_afp32.tflite", overwrite=True)
