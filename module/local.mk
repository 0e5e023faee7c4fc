# module
