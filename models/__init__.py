"""Model registry: `--model NAME` selects the BaseModel subclass in `models/NAME_model.py`
(class `NameModel`, any capitalisation). To add a model, copy `template_model.py`."""
from util import registry
from .base_model import BaseModel


def find_model_using_name(model_name):
    return registry.find_class('models', model_name, 'model', BaseModel, '--model')


def get_option_setter(model_name):
    return find_model_using_name(model_name).modify_commandline_options


def create_model(opt):
    model = find_model_using_name(opt.model)(opt)
    print(f'model [{type(model).__name__}] was created')
    return model
