"""What is trained: the Keras boundary, the CNN builder, augmentation and users' hypermodels."""
